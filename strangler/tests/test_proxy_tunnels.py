"""WebSocket tunnels through a real proxy to real WebSocket servers (the `websockets` package on both
ends): echo, big messages, ping/pong, close codes both ways, backpressure, idle timeout, route
flips and drains, the caps, the handshake's hygiene and refusals."""

from __future__ import annotations

import json
import logging
import os
import socket
import time
from base64 import b64encode

import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.frames import Frame, Opcode
from websockets.sync.client import connect

from strangler.proxy.accesslog import LOGGER as ACCESS_LOGGER
from strangler.proxy.routing import sign_override
from strangler.proxy.types import Mode, RouteState
from strangler.testing import free_port
from strangler.tests import ws_support
from strangler.tests.conftest import SECRET, ProxyHandle, base_config, raw_exchange
from strangler.tests.ws_support import FLOOD_MESSAGE, FLOOD_MESSAGES, WsUpstream, ws_config

BIG = 10 * 1024 * 1024
QUIET = 0.5  # seconds without a byte taken: the client is blocked


@pytest.fixture(scope="module")
def ws_upstreams():
    sides = {"monolith": WsUpstream("monolith"), "service": WsUpstream("service")}
    yield sides
    for side in sides.values():
        side.close()


@pytest.fixture
def ws_proxy(make_proxy, ws_upstreams):
    def make(**route):
        config = ws_config(ws_upstreams["monolith"].port, ws_upstreams["service"].port, **route)
        limits = route.pop("limits", None)
        if limits:
            config["proxy"]["limits"] = limits
            config["routes"][0].pop("limits")
        return make_proxy(config)

    return make


def _ws(proxy, path="/ws/echo", **kw):
    kw.setdefault("open_timeout", 5)
    kw.setdefault("compression", None)  # bytes on the wire are the bytes sent: the counters can be checked
    return connect(f"ws://127.0.0.1:{proxy.port}{path}", max_size=16 * 1024 * 1024, **kw)


def _closed_with(ws, timeout=5.0):
    """The close frame the client received (code, reason), waiting for the server to close."""
    with pytest.raises(ConnectionClosed) as info:
        ws.recv(timeout=timeout)
    rcvd = info.value.rcvd
    return (rcvd.code, rcvd.reason) if rcvd is not None else (None, None)


def test_echo_of_text_binary_and_a_10mb_message(ws_proxy):
    proxy = ws_proxy()
    big = os.urandom(BIG)
    with _ws(proxy) as ws:
        ws.send("héllo")
        assert ws.recv(timeout=5) == "héllo"
        ws.send(b"\x00\xff" * 10)
        assert ws.recv(timeout=5) == b"\x00\xff" * 10
        ws.send(big)
        assert ws.recv(timeout=30) == big
        assert ws.ping(b"are you there").wait(5)  # the upstream's pong comes back through the tunnel
        ws.send("whoami")
        assert ws.recv(timeout=5) == "monolith"
    time.sleep(0.3)
    metrics = proxy.server.metrics
    assert metrics.tunnels[("live", "monolith")] == 0
    assert metrics.tunnel_bytes[("live", "monolith", "up")] > BIG
    assert metrics.tunnel_bytes[("live", "monolith", "down")] > BIG
    assert metrics.tunnels_closed[("live", "client")] == 1  # the client began the closing handshake
    text = metrics.render()
    assert 'strangler_tunnels{route="live",side="monolith"} 0' in text
    assert 'strangler_tunnels_closed_total{route="live",closed_by="client"} 1' in text


def test_close_codes_pass_both_ways(ws_proxy, ws_upstreams):
    proxy = ws_proxy()
    server = ws_upstreams["monolith"]
    with _ws(proxy, "/ws/close") as ws:
        ws.send("close 4002 upstream says bye")
        assert _closed_with(ws) == (4002, "upstream says bye")
    time.sleep(0.3)
    assert proxy.server.metrics.tunnels_closed[("live", "upstream")] == 1  # the upstream began the closing
    assert 4001 not in server.closed_codes
    with _ws(proxy) as ws:
        ws.send("whoami")
        assert ws.recv(timeout=5) == "monolith"
        ws.close(4001, "client says bye")
    deadline = time.monotonic() + 5
    while 4001 not in server.closed_codes and time.monotonic() < deadline:
        time.sleep(0.02)
    assert 4001 in server.closed_codes


def test_a_slow_reader_pauses_the_fast_side(ws_proxy, ws_upstreams):
    """The client reads nothing: the proxy stops reading the upstream, whose sends then block, instead
    of holding the flood in memory. Once the client reads, every message arrives."""
    proxy = ws_proxy()
    server = ws_upstreams["monolith"]
    server.flooded = 0
    key = b64encode(os.urandom(16))
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)  # no autotuning on the client side
        sock.settimeout(10)
        sock.connect(("127.0.0.1", proxy.port))
        sock.sendall(b"GET /ws/flood HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n"
                     b"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: " + key + b"\r\n\r\n")
        time.sleep(2.0)  # the upstream sends as fast as the tunnel takes; the client reads nothing
        stalled_at = server.flooded
        time.sleep(0.5)
        assert server.flooded == stalled_at, "the upstream kept sending while nobody read"
        total = len(FLOOD_MESSAGE) * FLOOD_MESSAGES
        print(f"\nupstream stalled after {stalled_at * len(FLOOD_MESSAGE) / 2**20:.1f} MiB of "
              f"{total / 2**20:.0f} MiB while the client did not read")
        assert stalled_at < FLOOD_MESSAGES // 2
        received = 0
        while received < total:
            chunk = sock.recv(1 << 20)
            assert chunk
            received += len(chunk)  # the 101 head and frame headers count too: more than total at the end
    assert server.flooded == FLOOD_MESSAGES


def test_a_slow_upstream_pauses_the_client(ws_proxy, ws_upstreams):
    """The upstream reads nothing for a while: the proxy stops reading the client, whose sends block,
    instead of buffering what it sends. Once the upstream reads, everything arrives."""
    proxy = ws_proxy()
    server = ws_upstreams["monolith"]
    server.drained = 0
    frame = Frame(Opcode.BINARY, FLOOD_MESSAGE).serialize(mask=True)
    total = len(FLOOD_MESSAGE) * FLOOD_MESSAGES
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 64 * 1024)
        sock.settimeout(10)
        sock.connect(("127.0.0.1", proxy.port))
        sock.sendall(b"GET /ws/stall HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n"
                     b"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: " + b64encode(os.urandom(16)) + b"\r\n\r\n")
        head = b""
        while b"\r\n\r\n" not in head:
            head += sock.recv(4096)
        assert head.startswith(b"HTTP/1.1 101 ")
        sock.setblocking(False)
        pending, sent, begun = b"", 0, 0

        def push(seconds: float, *, until_quiet: float = 0.0) -> float:
            """Send for `seconds`, or (until_quiet) until nothing has gone for that long; how long
            nothing went at the end."""
            nonlocal pending, sent, begun
            now = time.monotonic()
            stop, progress = now + seconds, now
            while now < stop and not (until_quiet and now - progress >= until_quiet):
                if not pending and begun < FLOOD_MESSAGES:
                    pending, begun = frame, begun + 1
                try:
                    n = sock.send(pending[:1 << 20])
                except BlockingIOError:
                    time.sleep(0.01)
                    now = time.monotonic()
                    continue
                sent += n
                pending = pending[n:]
                now = progress = time.monotonic()
            return now - progress

        # Fill every buffer on the way until the client's sends block for QUIET seconds, well inside
        # the upstream's STALL. A fixed 1.5 s was not enough on a loaded machine: the buffers were
        # still filling, and the next 0.5 s saw progress (about 1 in 10 runs under load).
        quiet = push(ws_support.STALL * 0.6, until_quiet=QUIET)
        assert quiet >= QUIET, (f"the proxy kept taking what the client sent while the upstream did not read "
                                f"({sent / 2**20:.1f} MiB)")
        print(f"\nclient blocked after {sent / 2**20:.1f} MiB of {total / 2**20:.0f} MiB while the upstream did "
              "not read")
        assert sent < total * 3 // 4
        sock.setblocking(True)
        sock.sendall(pending)
        for _ in range(FLOOD_MESSAGES - begun):
            sock.sendall(frame)
        deadline = time.monotonic() + 20
        while server.drained < total and time.monotonic() < deadline:
            time.sleep(0.05)
    assert server.drained == total


def test_idle_tunnel_is_closed_with_going_away(ws_proxy, ws_upstreams):
    proxy = ws_proxy(tunnel={"idle_timeout": 0.5, "max_lifetime": 60})
    handler = _LogLines()
    before = len(ws_upstreams["monolith"].closed_codes)
    with _ws(proxy) as ws:
        ws.send("whoami")
        assert ws.recv(timeout=5) == "monolith"
        started = time.monotonic()
        assert _closed_with(ws)[0] == 1001
        assert 0.4 < time.monotonic() - started < 3.0
        assert _upstream_closes(ws_upstreams["monolith"], before) == [1001]  # told too, not dropped
    time.sleep(0.3)
    assert proxy.server.metrics.tunnels_closed[("live", "idle")] == 1
    del handler


def test_lifetime_is_bounded_even_when_busy(ws_proxy):
    proxy = ws_proxy(tunnel={"idle_timeout": 60, "max_lifetime": 1.0})
    with _ws(proxy) as ws:
        started = time.monotonic()
        with pytest.raises(ConnectionClosed):
            while time.monotonic() - started < 5:
                ws.send("ping")
                ws.recv(timeout=5)
                time.sleep(0.05)
        assert 0.9 < time.monotonic() - started < 3.0
        assert ws.protocol.close_rcvd is not None and ws.protocol.close_rcvd.code == 1001
    time.sleep(0.3)
    assert proxy.server.metrics.tunnels_closed[("live", "lifetime")] == 1


def _upstream_closes(server, before: int) -> list[int | None]:
    """The close codes `server` received after its first `before`, once one arrived."""
    deadline = time.monotonic() + 5
    while len(server.closed_codes) <= before and time.monotonic() < deadline:
        time.sleep(0.05)
    return server.closed_codes[before:]


def test_a_flip_keeps_open_tunnels_and_a_drain_moves_them(ws_proxy, ws_upstreams):
    proxy = ws_proxy()
    monolith_closes = len(ws_upstreams["monolith"].closed_codes)
    with _ws(proxy) as old:
        old.send("whoami")
        assert old.recv(timeout=5) == "monolith"
        proxy.call(lambda: proxy.server.apply_states({"live": RouteState(Mode.SERVICE, 100)}))
        old.send("whoami")
        assert old.recv(timeout=5) == "monolith"  # an open tunnel stays where it was opened
        with _ws(proxy) as new:
            new.send("whoami")
            assert new.recv(timeout=5) == "service"  # a new one follows the route
            assert proxy.call(lambda: proxy.server.drain_tunnels("live", 1.0)) == 2
            time.sleep(0.5)
            old.send("whoami")
            assert old.recv(timeout=5) == "monolith"  # within the grace period nothing is cut
            started = time.monotonic()
            assert _closed_with(old) == (1012, "proxy: reconnect")  # service restart: reconnect
            assert time.monotonic() - started < 3.0
            new.send("whoami")
            assert new.recv(timeout=5) == "service"  # already on the new side: not drained
            # The side it left saw a clean close (going away), not a dropped connection (1006).
            assert _upstream_closes(ws_upstreams["monolith"], monolith_closes) == [1001]
    time.sleep(0.3)
    assert proxy.server.metrics.tunnels_closed[("live", "drain")] == 1


def test_the_canary_cohort_and_overrides_are_decided_at_upgrade_time(ws_proxy):
    proxy = ws_proxy(mode="canary", weight=50)
    sides = set()
    for user in range(20):
        with _ws(proxy, additional_headers={"X-User": f"user-{user}"}) as ws:
            ws.send("whoami")
            sides.add(ws.recv(timeout=5))
    assert sides == {"monolith", "service"}
    token = sign_override(SECRET, "service", "live", int(time.time()) + 60)
    for user in range(5):
        with _ws(proxy, additional_headers={"X-User": f"user-{user}", "X-Strangler-Override": token}) as ws:
            ws.send("whoami")
            assert ws.recv(timeout=5) == "service"


def test_an_upgrade_is_never_retried_or_fallen_back(make_proxy, ws_upstreams):
    """The service is down and the route falls back for safe requests: a handshake (a GET) still goes
    once, to the side decided, and fails there."""
    config = ws_config(ws_upstreams["monolith"].port, free_port(), mode="service", fallback=True,
                       retry={"attempts": 2, "backoff_base": 0.001})
    proxy = make_proxy(config)
    with pytest.raises(InvalidStatus) as info:
        _ws(proxy)
    assert info.value.response.status_code == 503
    assert json.loads(info.value.response.body)["error"]["code"] == "service_unavailable"
    metrics = proxy.server.metrics
    assert not metrics.retries and not metrics.fallbacks
    assert proxy.server.tunnels.reserved == 0  # the failed handshake gave its slot back


def test_shadow_mode_does_not_mirror_tunnels(ws_proxy):
    proxy = ws_proxy(mode="shadow")
    with _ws(proxy) as ws:
        ws.send("whoami")
        assert ws.recv(timeout=5) == "monolith"
    assert not any(n for (route, _), n in proxy.server.metrics.shadow.items() if route == "live")


def test_the_caps_refuse_with_503_and_retry_after(ws_proxy):
    proxy = ws_proxy(limits={"max_tunnels": 10, "max_tunnels_per_client": 2})
    with _ws(proxy) as first, _ws(proxy):
        with pytest.raises(InvalidStatus) as info:
            _ws(proxy)
        response = info.value.response
        assert response.status_code == 503 and response.headers["Retry-After"] == "1"
        assert json.loads(response.body)["error"]["code"] == "too_many_tunnels"
        assert proxy.server.metrics.limited["client_tunnels"] == 1
        first.close()
        time.sleep(0.3)
        with _ws(proxy) as third:  # a closed tunnel frees its slot
            third.send("whoami")
            assert third.recv(timeout=5) == "monolith"


def test_a_route_without_websocket_refuses_it(ws_proxy):
    proxy = ws_proxy(tunnel={"upgrades": []})
    with pytest.raises(InvalidStatus) as info:
        _ws(proxy)
    assert info.value.response.status_code == 400
    assert json.loads(info.value.response.body)["error"]["code"] == "upgrade_not_allowed"


def test_handshake_headers_and_a_plain_answer_carry_on_as_http(make_proxy, upstreams):
    """The HTTP upstream ignores the Upgrade and answers 200: the connection stays plain HTTP. What it
    received shows the handshake's hygiene."""
    cfg = base_config(upstreams["monolith"], upstreams["service"])
    proxy = make_proxy(cfg)
    request = (b"GET /ws HTTP/1.1\r\nHost: x\r\nConnection: keep-alive, Upgrade, X-Hop\r\nUpgrade: websocket\r\n"
               b"X-Hop: 1\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
               b"X-Forwarded-For: 6.6.6.6\r\nX-Strangler-Override: forged\r\nKeep-Alive: 5\r\n\r\n")
    with socket.create_connection(("127.0.0.1", proxy.port), timeout=5) as sock:
        sock.sendall(request + b"GET /after HTTP/1.1\r\nHost: x\r\n\r\n")  # pipelined behind the upgrade
        data = b""
        while data.count(b"HTTP/1.1 200 ") < 2 or not data.endswith(b"}"):
            chunk = sock.recv(65536)
            assert chunk, data
            data += chunk
    first = json.loads(data.split(b"\r\n\r\n")[1].split(b"HTTP/1.1")[0])
    headers = {k.lower(): v for k, v in first["headers"]}
    assert headers["upgrade"] == "websocket" and headers["connection"] == "upgrade"
    assert headers["sec-websocket-key"] == "dGhlIHNhbXBsZSBub25jZQ==" and headers["sec-websocket-version"] == "13"
    assert headers["x-forwarded-for"] == "127.0.0.1"
    assert "x-hop" not in headers and "keep-alive" not in headers and "x-strangler-override" not in headers
    assert b'"path": "/after"' in data


def test_an_upgrade_with_a_body_is_still_refused(ws_proxy):
    proxy = ws_proxy()
    response, closed = raw_exchange(proxy.port, b"GET /ws/echo HTTP/1.1\r\nHost: x\r\nConnection: upgrade\r\n"
                                    b"Upgrade: websocket\r\nContent-Length: 3\r\n\r\nabc")
    assert response.startswith(b"HTTP/1.1 400 ") and b"upgrade_with_body" in response and closed


def test_a_tunnel_closing_writes_one_access_log_line(ws_proxy):
    handler = _LogLines()
    try:
        proxy = ws_proxy()
        with _ws(proxy) as ws:
            ws.send(b"x" * 1000)
            ws.recv(timeout=5)
        deadline = time.monotonic() + 5
        while not any('"event":"tunnel_closed"' in line for line in handler.lines) and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        handler.remove()
    closed = [json.loads(line) for line in handler.lines if '"event":"tunnel_closed"' in line]
    handshakes = [json.loads(line) for line in handler.lines if '"status":101' in line]
    assert len(closed) == 1 and len(handshakes) == 1
    line = closed[0]
    assert line["request_id"] == handshakes[0]["request_id"]
    assert (line["route"], line["side"], line["target"], line["closed_by"]) == ("live", "monolith", "monolith",
                                                                                "client")
    assert line["bytes_up"] > 1000 and line["bytes_down"] > 1000 and line["duration_ms"] >= 0


class _LogLines(logging.Handler):
    """Collects the access log's lines; attached before the proxy starts, so it replaces the buffered one."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.lines: list[str] = []
        self.level_before = ACCESS_LOGGER.level
        ACCESS_LOGGER.addHandler(self)
        ACCESS_LOGGER.setLevel(logging.INFO)

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())

    def remove(self) -> None:
        ACCESS_LOGGER.removeHandler(self)
        ACCESS_LOGGER.setLevel(self.level_before)


def test_a_pipelined_handshake_of_a_client_that_left_gives_its_slot_back(make_proxy, upstreams):
    proxy = make_proxy(base_config(upstreams["monolith"], upstreams["service"]))
    reserved = lambda: proxy.call(lambda: proxy.server.tunnels.reserved)  # noqa: E731
    with socket.create_connection(("127.0.0.1", proxy.port), timeout=5) as sock:
        sock.sendall(b"GET /slow?sleep=1 HTTP/1.1\r\nHost: x\r\n\r\n"
                     b"GET /ws HTTP/1.1\r\nHost: x\r\nConnection: upgrade\r\nUpgrade: websocket\r\n\r\n")
        time.sleep(0.3)
        assert reserved() == 1  # counted when its head arrived, queued behind the slow request
    deadline = time.monotonic() + 5  # the client left before its handshake started
    while reserved() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert reserved() == 0


def test_a_proxy_shutting_down_tells_its_tunnels(ws_upstreams):
    proxy = ProxyHandle(ws_config(ws_upstreams["monolith"].port, ws_upstreams["service"].port))
    with _ws(proxy) as ws:
        ws.send("whoami")
        assert ws.recv(timeout=5) == "monolith"
        proxy.close()
        assert _closed_with(ws)[0] == 1001  # going away
    assert proxy.server.metrics.tunnels_closed[("live", "limit")] == 1
