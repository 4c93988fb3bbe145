"""Deadlines and whose fault a timeout is, over raw sockets against real upstreams: a client that
stalls or trickles its request body, or reads the answer too slowly, is cut off without the
upstream's circuit breaker counting it."""

from __future__ import annotations

import socket
import threading
import time

import pytest

from strangler.proxy.types import BreakerState
from strangler.tests.conftest import base_config, hits, reset_hits

STALLERS = 5  # the default breaker opens after five consecutive failures


def _stall(port: int, length: int, sent: int, out: list[bytes]) -> None:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(b"POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % length + b"a" * sent)
        chunks = []
        try:
            while chunk := sock.recv(65536):
                chunks.append(chunk)
        except (TimeoutError, ConnectionResetError):
            pass
        out.append(b"".join(chunks))


@pytest.mark.parametrize(("length", "sent"), [(100, 5), (300_000, 70_000)], ids=["buffered", "streamed"])
def test_clients_stalling_their_body_do_not_open_the_monoliths_breaker(make_proxy, upstreams, length, sent):
    cfg = base_config(upstreams["monolith"], upstreams["service"])
    cfg["targets"]["monolith"]["read_timeout"] = 0.3
    proxy = make_proxy(cfg)
    answers: list[bytes] = []
    threads = [threading.Thread(target=_stall, args=(proxy.port, length, sent, answers)) for _ in range(STALLERS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=15)
    assert len(answers) == STALLERS
    assert proxy.server.breaker_states()["monolith"] is BreakerState.CLOSED
    for answer in answers:
        assert answer.startswith(b"HTTP/1.1 408 "), answer[:120]  # the client's fault, told as such
    assert proxy.request("GET", "/after")[0] == 200


def _deadline_proxy(make_proxy, upstreams, **deadlines):
    cfg = base_config(upstreams["monolith"], upstreams["service"], deadlines=deadlines)
    cfg["routes"].append({"name": "DEFAULT", "prefix": "/", "deadlines": deadlines})
    cfg["targets"]["monolith"]["read_timeout"] = 0.5
    return make_proxy(cfg)


def test_a_small_body_is_buffered_before_an_upstream_connection_is_taken(make_proxy, upstreams):
    proxy = _deadline_proxy(make_proxy, upstreams)
    reset_hits(upstreams["monolith"])
    with socket.create_connection(("127.0.0.1", proxy.port), timeout=10) as sock:
        sock.sendall(b"POST /api/v1/payments/buffered HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nhello")
        time.sleep(0.3)
        assert "/api/v1/payments/buffered" not in hits(upstreams["monolith"])  # no upstream worker held yet
        sock.sendall(b"world")
        head = sock.recv(65536)
    assert head.startswith(b"HTTP/1.1 200 ") and b'"body_size": 10' in head


def _trickle(port: int, path: bytes, length: int, piece: int, pause: float, limit: float) -> tuple[bytes, float]:
    """Send a body `piece` bytes every `pause` seconds until the proxy answers or `limit` passes."""
    start = time.monotonic()
    with socket.create_connection(("127.0.0.1", port), timeout=limit) as sock:
        sock.sendall(b"POST %s HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % (path, length))
        sock.settimeout(pause)
        sent = 0
        while time.monotonic() - start < limit and sent < length:
            try:
                answer = sock.recv(65536)
                return answer, time.monotonic() - start
            except TimeoutError:
                pass
            try:
                sock.sendall(b"a" * piece)
            except OSError:
                break
            sent += piece
        try:
            return sock.recv(65536), time.monotonic() - start
        except OSError:
            return b"", time.monotonic() - start


@pytest.mark.parametrize(("length", "piece"), [(100, 1), (300_000, 70_000)], ids=["buffered", "streamed"])
def test_a_trickled_body_meets_the_routes_body_deadline(make_proxy, upstreams, length, piece):
    proxy = _deadline_proxy(make_proxy, upstreams, body=1.0)
    # Each piece arrives well within the read timeout: only a total deadline can end this.
    answer, elapsed = _trickle(proxy.port, b"/api/v1/payments/trickle", length, piece if piece < 1000 else 1000,
                               pause=0.1, limit=8.0)
    assert answer.startswith(b"HTTP/1.1 408 "), (answer[:120], elapsed)
    assert elapsed < 6.0
    assert proxy.server.breaker_states()["monolith"] is BreakerState.CLOSED


def test_a_response_read_too_slowly_meets_the_routes_response_deadline(make_proxy, upstreams):
    size = 32 * 1024 * 1024
    proxy = _deadline_proxy(make_proxy, upstreams, response=1.0)
    with socket.create_connection(("127.0.0.1", proxy.port), timeout=10) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
        sock.sendall(b"GET /download?size=%d HTTP/1.1\r\nHost: x\r\n\r\n" % size)
        time.sleep(2.5)  # not reading: the proxy pauses the upstream, which would wait forever
        received, closed = 0, False
        try:
            while chunk := sock.recv(1 << 20):
                received += len(chunk)
            closed = True
        except ConnectionResetError:
            closed = True
        except TimeoutError:
            pass
    assert closed, f"still open after {received} bytes"
    assert received < size  # cut off at the deadline, not served in full
    assert proxy.server.breaker_states()["monolith"] is BreakerState.CLOSED


# -- the decision alone (strangler.proxy.deadlines.verdict): no sockets, no clock -----------------

def _verdict(now, idle=10.0, hard=100.0, *, body_done=True, progressed=False, upstream_blocking=False,
             client_slow=False):
    from strangler.proxy.deadlines import verdict

    return verdict(now, idle, hard, body_done=body_done, progressed=progressed,
                   upstream_blocking=upstream_blocking, client_slow=client_slow)


def test_verdict_inactivity():
    from strangler.proxy.deadlines import Verdict

    assert _verdict(5.0) is Verdict.WAIT
    assert _verdict(10.0) is Verdict.UPSTREAM  # request sent, no answer for the read timeout
    assert _verdict(10.0, progressed=True) is Verdict.EXTEND
    assert _verdict(10.0, client_slow=True) is Verdict.EXTEND  # the client not reading is not the upstream's fault
    assert _verdict(10.0, body_done=False) is Verdict.CLIENT  # the client stalled its own body
    assert _verdict(10.0, body_done=False, upstream_blocking=True) is Verdict.UPSTREAM  # the upstream stopped reading
    assert _verdict(10.0, idle=0.0) is Verdict.WAIT  # not armed


def test_verdict_total_deadlines_ignore_progress():
    from strangler.proxy.deadlines import Verdict

    assert _verdict(100.0, idle=200.0, progressed=True) is Verdict.DEADLINE
    assert _verdict(100.0, idle=200.0, body_done=False, progressed=True) is Verdict.CLIENT  # trickled body
    assert _verdict(100.0, idle=200.0, client_slow=True, progressed=True) is Verdict.CLIENT  # slow reader
    assert _verdict(100.0, idle=200.0, hard=0.0) is Verdict.WAIT


def test_deadlines_are_configured_per_route():
    from strangler.proxy.config import ConfigError, parse_config
    from strangler.proxy.types import DeadlinePolicy

    cfg = base_config(1, 2, deadlines={"body": 5, "response": 30.5})
    route = parse_config(cfg, env={}).table.routes[0]
    assert route.deadlines == DeadlinePolicy(body=5.0, response=30.5)
    assert parse_config(base_config(1, 2), env={}).table.routes[0].deadlines == DeadlinePolicy()
    for bad in ({"body": 0}, {"response": "1"}, {"total": 1}):
        with pytest.raises(ConfigError, match="route 'payments' deadlines"):
            parse_config(base_config(1, 2, deadlines=bad), env={})
