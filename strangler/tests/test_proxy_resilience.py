"""Retries, fallback, circuit breaking and upstream failures, against real processes."""

from __future__ import annotations

import json
import time

import pytest

from strangler.proxy.types import BreakerState
from strangler.testing import free_port
from strangler.tests.conftest import base_config, hits, reset_hits


def test_get_falls_back_to_monolith_when_service_is_down(make_proxy):
    proxy = make_proxy(service=free_port(), mode="service")
    status, body = proxy.json("GET", "/api/v1/payments/1")
    assert (status, body["upstream"]) == (200, "monolith")
    assert proxy.server.metrics.fallbacks["payments"] == 1


def test_post_gets_503_with_retry_after_when_service_is_down(make_proxy):
    proxy = make_proxy(service=free_port(), mode="service")
    status, headers, data = proxy.request("POST", "/api/v1/payments", body=b'{"amount": 1}')
    assert status == 503
    assert int(headers["retry-after"]) >= 1
    assert headers["content-type"] == "application/json"
    assert json.loads(data)["error"]["code"] == "service_unavailable"


def test_no_fallback_gives_502_and_monolith_down_gives_502(make_proxy, upstreams):
    proxy = make_proxy(service=free_port(), mode="service", fallback=False)
    status, _, data = proxy.request("GET", "/api/v1/payments/1")
    assert status == 502 and b'"bad_gateway"' in data
    cfg = base_config(free_port(), upstreams["service"])
    proxy = make_proxy(cfg)
    assert proxy.request("GET", "/anything")[0] == 502


def test_timeout_gives_504(make_proxy, upstreams):
    cfg = base_config(upstreams["monolith"], upstreams["service"], retry={"attempts": 0})
    cfg["targets"]["monolith"]["read_timeout"] = 0.3
    proxy = make_proxy(cfg)
    status, _, data = proxy.request("GET", "/slow?sleep=1")
    assert status == 504 and b"upstream_timeout" in data


def test_retries_only_idempotent_methods(make_proxy, upstreams):
    service = upstreams["service"]
    proxy = make_proxy(mode="service", fallback=False, retry={"attempts": 2, "backoff_base": 0.001})
    reset_hits(service)
    status, _, _ = proxy.request("GET", "/api/v1/payments/get-drop?drop=1")
    assert status == 502
    assert hits(service)["/api/v1/payments/get-drop"] == 3  # first try + 2 retries
    status, _, _ = proxy.request("POST", "/api/v1/payments/post-drop?drop=1", body=b"{}")
    assert status == 502
    assert hits(service)["/api/v1/payments/post-drop"] == 1  # never retried
    assert proxy.server.metrics.retries[("payments", "payments")] == 2


def test_503_from_service_retried_then_falls_back_for_get(make_proxy, upstreams):
    proxy = make_proxy(mode="service", retry={"attempts": 1, "backoff_base": 0.001})
    reset_hits(upstreams["service"])
    status, body = proxy.json("GET", "/api/v1/payments/busy?svc_status=503")
    assert (status, body["upstream"]) == (200, "monolith")
    assert hits(upstreams["service"])["/api/v1/payments/busy"] == 2
    # A POST gets the service's own answer: nothing is replayed for it.
    status, _, _ = proxy.request("POST", "/api/v1/payments/busy?svc_status=503", body=b"{}")
    assert status == 503


def test_breaker_opens_after_n_failures_and_half_opens(make_proxy, upstreams):
    service = upstreams["service"]
    proxy = make_proxy(mode="service", fallback=False, retry={"attempts": 0},
                       breaker={"failure_threshold": 3, "reset_timeout": 0.5, "half_open_max": 1})
    reset_hits(service)
    for _ in range(3):
        assert proxy.request("GET", "/api/v1/payments/b?status=503")[0] == 503
    assert proxy.server.breaker_states()["payments"] is BreakerState.OPEN
    # Open: the service is not even tried.
    status, headers, data = proxy.request("GET", "/api/v1/payments/b")
    assert status == 503 and b"circuit_open" in data and "retry-after" in headers
    assert hits(service)["/api/v1/payments/b"] == 3
    assert 'strangler_breaker_state{target="payments"} 2' in proxy.server.metrics.render()
    time.sleep(0.6)
    assert proxy.server.breaker_states()["payments"] is BreakerState.HALF_OPEN
    # A successful probe closes it again.
    status, body = proxy.json("GET", "/api/v1/payments/b")
    assert (status, body["upstream"]) == (200, "service")
    assert proxy.server.breaker_states()["payments"] is BreakerState.CLOSED


def test_503_with_retry_after_is_an_answer_not_a_failure_for_the_breaker(make_proxy, upstreams):
    """An upstream that answers 503 with Retry-After is up and says when to come back (the
    monolith while a service it calls is down, a service fenced for a handover). Counting those as
    failures opened the monolith's breaker in the catalog acceptance run: every request to the
    shop, reads too, got circuit_open for 30 s after one dependency's outage of 4 s."""
    proxy = make_proxy(mode="monolith", retry={"attempts": 0},
                       breaker={"failure_threshold": 3, "reset_timeout": 30, "half_open_max": 1})
    for _ in range(6):
        status, headers, _ = proxy.request("POST", "/api/v1/orders/1/checkout?status=503&retry_after=1", body=b"{}")
        assert status == 503 and headers["retry-after"] == "1"  # relayed as the upstream said it
    assert proxy.server.breaker_states()["monolith"] is BreakerState.CLOSED
    status, body = proxy.json("GET", "/api/v1/products/1")
    assert (status, body["upstream"]) == (200, "monolith")
    # A rerouted one (a GET on the service, falling back) does not count against the service either.
    proxy = make_proxy(mode="service", retry={"attempts": 0},
                       breaker={"failure_threshold": 2, "reset_timeout": 30, "half_open_max": 1})
    for _ in range(4):
        status, body = proxy.json("GET", "/api/v1/payments/fenced?svc_status=503&svc_retry_after=1")
        assert (status, body["upstream"]) == (200, "monolith")
    assert proxy.server.breaker_states()["payments"] is BreakerState.CLOSED
    # Without Retry-After a 503 still counts: the breaker opens as before.
    for _ in range(3):
        proxy.request("POST", "/api/v1/payments/down?svc_status=503", body=b"{}")
    assert proxy.server.breaker_states()["payments"] is BreakerState.OPEN


def test_open_breaker_falls_back_for_get(make_proxy):
    proxy = make_proxy(service=free_port(), mode="service", retry={"attempts": 0},
                       breaker={"failure_threshold": 1, "reset_timeout": 30})
    assert proxy.json("GET", "/api/v1/payments/1")[1]["upstream"] == "monolith"
    assert proxy.server.breaker_states()["payments"] is BreakerState.OPEN
    assert proxy.json("GET", "/api/v1/payments/1")[1]["upstream"] == "monolith"
    status, headers, _ = proxy.request("POST", "/api/v1/payments/1", body=b"{}")
    assert status == 503 and "retry-after" in headers


def test_metrics_count_requests(make_proxy):
    proxy = make_proxy(mode="monolith")
    for _ in range(3):
        proxy.request("GET", "/api/v1/payments/1")
    text = proxy.server.metrics.render()
    assert 'strangler_requests_total{route="payments",target="monolith",status="2xx"} 3' in text
    assert 'strangler_request_duration_seconds_count{route="payments",target="monolith"} 3' in text
    assert 'strangler_request_duration_seconds_bucket{route="payments",target="monolith",le="+Inf"} 3' in text


def test_pooled_connections_are_reused_then_closed_after_the_idle_timeout(make_proxy, upstreams):
    import time

    from strangler.tests.conftest import base_config

    config = base_config(upstreams["monolith"], upstreams["service"])
    config["targets"]["monolith"]["idle_timeout"] = 0.3
    proxy = make_proxy(config)

    def peer() -> int:
        status, headers, _ = proxy.request("GET", "/anything")
        assert status == 200
        return int({k.lower(): v for k, v in headers.items()}["x-peer-port"])

    first = peer()
    assert peer() == first  # kept alive and reused from the pool
    time.sleep(0.6)
    assert peer() != first  # idle too long: closed by the proxy, a fresh connection is opened


class _TrailingBytesUpstream:
    """A raw upstream that follows its first answer on each connection with the start of another
    response, in the same write: bytes after a complete Content-Length response."""

    GARBAGE = b"HTTP/1.1 200 OK\r\nX-Smuggled: yes\r\nContent-Length: 300\r\n\r\nSMUGGLED"

    def __init__(self) -> None:
        import socket
        import threading

        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.connections = 0
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        import threading

        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.connections += 1
            threading.Thread(target=self._serve, args=(conn, self.connections), daemon=True).start()

    def _serve(self, conn, number: int) -> None:
        buf, answered = b"", 0
        with conn:
            while True:
                try:
                    data = conn.recv(65536)
                except OSError:
                    return
                if not data:
                    return
                buf += data
                while b"\r\n\r\n" in buf:
                    head, buf = buf.split(b"\r\n\r\n", 1)
                    body = b"conn-%d" % number
                    answer = b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body)
                    if head.startswith(b"HEAD "):  # the body a HEAD answer must not have: bytes after it
                        conn.sendall(answer)
                    else:
                        conn.sendall(answer + (self.GARBAGE if answered == 0 else b""))
                    answered += 1

    def close(self) -> None:
        self.sock.close()


@pytest.mark.parametrize("first", ["GET", "HEAD"])
def test_bytes_after_a_complete_response_close_the_upstream_connection(make_proxy, upstreams, first):
    raw = _TrailingBytesUpstream()
    try:
        proxy = make_proxy(base_config(raw.port, upstreams["service"]))
        status, headers, body = proxy.request(first, "/anything")
        assert (status, body) == (200, b"conn-1" if first == "GET" else b"")
        status, headers, body = proxy.request("GET", "/anything")
        assert (status, body) == (200, b"conn-2")  # never the smuggled bytes, never the first connection again
        assert "x-smuggled" not in headers and "x-request-id" in headers
        assert raw.connections == 2
    finally:
        raw.close()


def test_writes_are_not_retried_nor_fall_back_without_an_honoured_idempotency_key(make_proxy, upstreams):
    service, monolith = upstreams["service"], upstreams["monolith"]
    proxy = make_proxy(mode="service", retry={"attempts": 2, "backoff_base": 0.001})
    reset_hits(service)
    reset_hits(monolith)
    for method in ("PUT", "DELETE"):
        status, _, _ = proxy.request(method, f"/api/v1/payments/{method}-drop?drop=1", body=b"{}")
        assert status == 502  # the connection dropped after the service may have applied it: the client decides
        status, _, _ = proxy.request(method, f"/api/v1/payments/{method}-busy?svc_status=503", body=b"{}")
        assert status == 503  # the service's own answer, relayed: nothing is re-sent
        assert hits(service)[f"/api/v1/payments/{method}-drop"] == 1  # sent once
        assert hits(service)[f"/api/v1/payments/{method}-busy"] == 1
    assert not any(path.startswith("/api/v1/payments/") for path in hits(monolith))  # never re-sent there
    # An Idempotency-Key alone changes nothing while the route does not say the upstreams honour it.
    status, _, _ = proxy.request("PUT", "/api/v1/payments/keyed?drop=1", body=b"{}", headers={"Idempotency-Key": "k1"})
    assert status == 502 and hits(service)["/api/v1/payments/keyed"] == 1


def test_a_write_with_an_idempotency_key_the_route_honours_is_retried_and_falls_back(make_proxy, upstreams):
    service, monolith = upstreams["service"], upstreams["monolith"]
    proxy = make_proxy(mode="service", idempotency_key_honoured=True, retry={"attempts": 2, "backoff_base": 0.001})
    reset_hits(service)
    reset_hits(monolith)
    status, body = proxy.json("POST", "/api/v1/payments/charge?svc_status=503", body=b"{}",
                              headers={"Idempotency-Key": "order-7"})
    assert (status, body["upstream"]) == (200, "monolith")
    assert hits(service)["/api/v1/payments/charge"] == 3 and hits(monolith)["/api/v1/payments/charge"] == 1
    status, _, _ = proxy.request("POST", "/api/v1/payments/nokey?svc_status=503", body=b"{}")
    assert status == 503 and hits(service)["/api/v1/payments/nokey"] == 1
