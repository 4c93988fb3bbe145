"""Connection lifecycle: idle keep-alive expiry, clients leaving mid-response, stalled upstreams,
graceful close."""

from __future__ import annotations

import socket
import time

from strangler.tests.conftest import base_config, raw_exchange


def _read_response(sock: socket.socket) -> bytes:
    data = b""
    while b"\r\n\r\n" not in data or not data.endswith(b"}"):
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    return data


def test_idle_keepalive_connections_are_closed(make_proxy, upstreams):
    cfg = base_config(upstreams["monolith"], upstreams["service"])
    cfg["proxy"]["limits"]["keepalive_timeout"] = 0.2
    proxy = make_proxy(cfg)
    with socket.create_connection(("127.0.0.1", proxy.port), timeout=5) as sock:
        sock.sendall(b"GET /ka HTTP/1.1\r\nHost: x\r\n\r\n")
        assert _read_response(sock).startswith(b"HTTP/1.1 200 ")
        time.sleep(0.6)
        assert sock.recv(100) == b""  # the proxy closed the idle connection
    assert proxy.server.metrics.connections == 0


def test_client_leaving_mid_download_frees_everything(make_proxy):
    proxy = make_proxy()
    with socket.create_connection(("127.0.0.1", proxy.port), timeout=5) as sock:
        sock.sendall(b"GET /download?size=20000000 HTTP/1.1\r\nHost: x\r\n\r\n")
        assert sock.recv(65536).startswith(b"HTTP/1.1 200 ")
    deadline = time.monotonic() + 5
    while proxy.server.metrics.connections and time.monotonic() < deadline:
        time.sleep(0.02)
    assert proxy.server.metrics.connections == 0
    assert proxy.json("GET", "/still-fine")[0] == 200


def test_upstream_stalling_mid_body_closes_the_client_connection(make_proxy, upstreams):
    cfg = base_config(upstreams["monolith"], upstreams["service"], retry={"attempts": 0})
    cfg["targets"]["monolith"]["read_timeout"] = 0.3
    proxy = make_proxy(cfg)
    # Before the head: the client gets a 504.
    response, _ = raw_exchange(proxy.port, b"GET /x?sleep=1 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert response.startswith(b"HTTP/1.1 504 ")
    # After the head: nothing honest can be sent any more, so the connection is closed early.
    response, closed = raw_exchange(proxy.port, b"GET /x?body_sleep=1 HTTP/1.1\r\nHost: x\r\n\r\n")
    head, _, body = response.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 ") and closed
    length = int(next(line.split(b":")[1] for line in head.split(b"\r\n") if line.lower().startswith(b"content-length")))
    assert len(body) < length


def test_request_body_to_a_down_upstream_is_not_read_forever(make_proxy, upstreams):
    from strangler.testing import free_port

    proxy = make_proxy(base_config(free_port(), upstreams["service"], retry={"attempts": 0}))
    body = b"x" * 200_000
    with socket.create_connection(("127.0.0.1", proxy.port), timeout=5) as sock:
        sock.sendall(b"POST /up HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % len(body))
        try:
            sock.sendall(body)
        except OSError:
            pass
        data = sock.recv(65536)
    assert data.startswith(b"HTTP/1.1 502 ")
    assert b"Connection: close" in data


def test_close_waits_for_in_flight_requests(make_proxy):
    import threading

    proxy = make_proxy()
    result = {}

    def slow():
        result["status"] = proxy.request("GET", "/slow?sleep=0.3")[0]

    thread = threading.Thread(target=slow)
    thread.start()
    time.sleep(0.1)
    proxy.close()
    thread.join(5)
    assert result["status"] == 200
    proxy.close = lambda: None  # already closed; the fixture's teardown must not close it twice


def test_slow_request_head_gets_408(make_proxy, upstreams):
    cfg = base_config(upstreams["monolith"], upstreams["service"])
    cfg["proxy"]["limits"]["header_timeout"] = 0.2
    proxy = make_proxy(cfg)
    with socket.create_connection(("127.0.0.1", proxy.port), timeout=5) as sock:
        sock.sendall(b"GET /slowloris HTTP/1.1\r\nHost: x\r\n")
        time.sleep(0.15)
        sock.sendall(b"X-Drip: 1\r\n")  # still trickling: bytes arrive, the head never completes
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    assert data.startswith(b"HTTP/1.1 408 ")
    # A complete request is not affected.
    assert proxy.json("GET", "/fast")[0] == 200
