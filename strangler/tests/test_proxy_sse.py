"""Server-sent events through the proxy: a stream passes event by event, outlives the route's response
deadline, and is still cut when the upstream falls silent for longer than its read timeout.
The issue's figures (a 60 s stream, 5 s heartbeats, 10 s read timeout) scaled down: 6 s, 0.5 s, 2 s."""

from __future__ import annotations

import socket
import time

from strangler.tests.conftest import base_config

RESPONSE_DEADLINE = 2.0
READ_TIMEOUT = 2.0


def _sse_proxy(make_proxy, upstreams, read_timeout=READ_TIMEOUT):
    deadlines = {"response": RESPONSE_DEADLINE}
    cfg = base_config(upstreams["monolith"], upstreams["service"], deadlines=deadlines)
    cfg["routes"].append({"name": "DEFAULT", "prefix": "/", "deadlines": deadlines})
    cfg["targets"]["monolith"]["read_timeout"] = read_timeout
    return make_proxy(cfg)


def ended_cleanly(data: bytes) -> bool:
    """The chunked answer's last chunk arrived (not merely a head whose last header value ends in 0)."""
    _, sep, body = data.partition(b"\r\n\r\n")
    return bool(sep) and (body == b"0\r\n\r\n" or body.endswith(b"\r\n0\r\n\r\n"))


def _events(port: int, query: str) -> tuple[list[float], bytes, float]:
    """Arrival times of the `event: beat` lines (seconds after the request), everything read, and when
    the stream ended."""
    started = time.monotonic()
    arrivals: list[float] = []
    data = b""
    with socket.create_connection(("127.0.0.1", port), timeout=15) as sock:
        sock.sendall(b"GET /sse?" + query.encode() + b" HTTP/1.1\r\nHost: x\r\nAccept: text/event-stream\r\n\r\n")
        while not ended_cleanly(data):
            try:
                chunk = sock.recv(65536)
            except ConnectionResetError:
                break
            if not chunk:
                break
            data += chunk
            arrivals += [time.monotonic() - started] * (data.count(b"event: beat") - len(arrivals))
    return arrivals, data, time.monotonic() - started


def test_a_stream_with_heartbeats_outlives_the_response_deadline(make_proxy, upstreams):
    proxy = _sse_proxy(make_proxy, upstreams)
    arrivals, data, took = _events(proxy.port, "beats=12&beat=0.5")
    assert data.startswith(b"HTTP/1.1 200 ") and b"text/event-stream" in data
    assert len(arrivals) == 12 and b"event: end" in data and ended_cleanly(data)
    assert took > RESPONSE_DEADLINE * 2  # well past the deadline a plain response gets
    # Unbuffered: each event arrives when it is sent, not with the rest at the end.
    assert arrivals[0] < 0.5
    assert arrivals[-1] - arrivals[0] > 4.0


def test_a_stream_silent_longer_than_the_read_timeout_is_cut(make_proxy, upstreams):
    proxy = _sse_proxy(make_proxy, upstreams)
    arrivals, data, took = _events(proxy.port, "beats=4&beat=0.2&gap=4")
    assert len(arrivals) == 2  # the two events before the silence
    assert b"event: end" not in data and not ended_cleanly(data)  # cut: no last chunk
    silence = took - arrivals[-1]
    assert READ_TIMEOUT * 0.9 < silence < READ_TIMEOUT + 1.5


def test_a_plain_slow_answer_still_has_the_response_deadline(make_proxy, upstreams):
    """Only stream media types are exempt: the same chunked pace as application/octet-stream is cut."""
    proxy = _sse_proxy(make_proxy, upstreams)
    started = time.monotonic()
    with socket.create_connection(("127.0.0.1", proxy.port), timeout=15) as sock:
        sock.sendall(b"GET /sse?beats=12&beat=0.5&plain=1 HTTP/1.1\r\nHost: x\r\n\r\n")
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    assert not ended_cleanly(data)
    assert time.monotonic() - started < RESPONSE_DEADLINE + 1.5
