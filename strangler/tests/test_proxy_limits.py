"""Per-connection and global limits over raw sockets: pipelined requests queued per connection,
connections per client address, and the memory shadow mirrors may hold."""

from __future__ import annotations

import json

from strangler.tests.conftest import base_config, hits, raw_exchange, reset_hits

PIPELINED = 200


def test_pipelined_requests_in_one_write_are_bounded_per_connection(make_proxy, upstreams):
    cfg = base_config(upstreams["monolith"], upstreams["service"])
    cfg["proxy"]["limits"]["max_pipelined"] = 4
    proxy = make_proxy(cfg)
    reset_hits(upstreams["monolith"])
    data = b"".join(b"GET /pipelined/%d HTTP/1.1\r\nHost: x\r\n\r\n" % i for i in range(PIPELINED))
    response, closed = raw_exchange(proxy.port, data, timeout=5.0)
    answered = response.count(b"HTTP/1.1 200 ")
    assert answered == 5  # the one being served and four queued behind it, in order
    assert b'"path": "/pipelined/4"' in response and b'"path": "/pipelined/5"' not in response
    last = response.rsplit(b"HTTP/1.1 ", 1)[1]
    head, _, body = last.partition(b"\r\n\r\n")
    assert head.startswith(b"503 ") and b"connection: close" in head.lower() and b"retry-after" in head.lower()
    assert json.loads(body)["error"]["code"] == "too_many_pipelined"
    assert closed  # and nothing more was read or parsed
    assert sum(n for path, n in hits(upstreams["monolith"]).items() if path.startswith("/pipelined/")) == 5
    assert proxy.server.metrics.limited["pipelined"] == 1
    assert 'strangler_limited_total{limit="pipelined"} 1' in proxy.server.metrics.render()


def test_pipelining_within_the_bound_is_served_in_full(make_proxy, upstreams):
    proxy = make_proxy()  # default bound
    data = b"".join(b"GET /ok/%d HTTP/1.1\r\nHost: x\r\n\r\n" % i for i in range(20))
    response, _ = raw_exchange(proxy.port, data + b"GET /last HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert response.count(b"HTTP/1.1 200 ") == 21


def test_connections_per_client_address_are_limited(make_proxy, upstreams):
    import socket
    import time

    cfg = base_config(upstreams["monolith"], upstreams["service"])
    cfg["proxy"]["limits"]["max_connections_per_client"] = 2
    proxy = make_proxy(cfg)
    held = [socket.create_connection(("127.0.0.1", proxy.port)) for _ in range(2)]  # idle: they count too
    try:
        time.sleep(0.1)
        response, closed = raw_exchange(proxy.port, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        head, _, body = response.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 429 ") and b"retry-after" in head.lower() and closed
        assert json.loads(body)["error"]["code"] == "too_many_connections_from_client"
        assert proxy.server.metrics.limited["client_connections"] == 1
    finally:
        for sock in held:
            sock.close()
    time.sleep(0.1)
    ok, _ = raw_exchange(proxy.port, b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert ok.startswith(b"HTTP/1.1 200 ")
    assert proxy.call(lambda: dict(proxy.server.per_client)) == {}  # nothing left counted


def _wait(predicate, timeout=5.0):
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.02)
    raise AssertionError("condition not reached")


def test_shadow_mirrors_beyond_the_global_byte_budget_are_shed_and_counted(make_proxy, upstreams):
    cfg = base_config(upstreams["monolith"], upstreams["service"], mode="shadow",
                      shadow={"noise_sample": 1.0, "dry_run_header": "X-Dry-Run"})
    cfg["proxy"]["shadow_budget_bytes"] = 16 * 1024
    proxy = make_proxy(cfg)
    shadow = proxy.server.shadow
    reset_hits(upstreams["service"])
    # A small read fits in the budget and is compared as usual.
    assert proxy.json("GET", "/api/v1/payments/small")[0] == 200
    _wait(lambda: proxy.call(shadow.report).get("payments", {}).get("compared") == 1)
    # A write whose body alone is over the budget still reaches the client, but is not mirrored.
    status, body = proxy.json("POST", "/api/v1/payments/big", body=b'{"pad": "%s"}' % (b"x" * 20000))
    assert (status, body["upstream"], body["body_size"]) == (200, "monolith", 20011)
    _wait(lambda: proxy.server.metrics.limited["shadow_bytes"] == 1)
    report = proxy.call(shadow.report)["payments"]
    assert (report["compared"], report["dropped"]) == (1, 1)
    assert "/api/v1/payments/big" not in hits(upstreams["service"])
    assert 'strangler_limited_total{limit="shadow_bytes"} 1' in proxy.server.metrics.render()
    _wait(lambda: proxy.call(lambda: shadow.held) == 0)  # every byte held for mirrors was given back
