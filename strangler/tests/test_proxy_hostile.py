"""Hostile and malformed input over raw sockets: refused with the right status, connection closed,
and the proxy keeps serving fresh connections."""

from __future__ import annotations

import json

import pytest

from strangler.tests.conftest import raw_exchange

CASES = [
    ("cl_and_te", b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n"
                  b"0\r\n\r\n", 400),
    ("te_and_cl", b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n"
                  b"0\r\n\r\n", 400),
    ("duplicate_cl", b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\nhello", 400),
    ("conflicting_cl", b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!", 400),
    ("invalid_cl", b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5x\r\n\r\nhello", 400),
    ("negative_cl", b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n", 400),
    ("obs_fold", b"GET / HTTP/1.1\r\nHost: x\r\nX-A: a\r\n  folded\r\n\r\n", 400),
    ("bad_chunk", b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n", 400),
    ("te_not_chunked", b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n", 400),
    ("te_identity", b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: identity\r\n\r\n", 400),
    ("no_host", b"GET / HTTP/1.1\r\n\r\n", 400),
    ("absolute_form", b"GET http://evil/ HTTP/1.1\r\nHost: x\r\n\r\n", 400),
    ("dot_segments", b"GET /api/v1/payments/../../admin HTTP/1.1\r\nHost: x\r\n\r\n", 400),
    ("http2_version", b"GET / HTTP/2.0\r\nHost: x\r\n\r\n", 505),
    ("http09_version", b"GET / HTTP/0.9\r\nHost: x\r\n\r\n", 505),
    ("connect", b"CONNECT evil:443 HTTP/1.1\r\nHost: evil:443\r\n\r\n", 405),
    ("lowercase_method", b"get / HTTP/1.1\r\nHost: x\r\n\r\n", 400),
    ("nul_in_header", b"GET / HTTP/1.1\r\nHost: x\r\nX: a\x00b\r\n\r\n", 400),
    ("bare_lf", b"GET / HTTP/1.1\nHost: x\n\n", 400),
    ("space_before_colon", b"GET / HTTP/1.1\r\nHost : x\r\n\r\n", 400),
    ("duplicate_host", b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400),
    ("upgrade_with_body", b"POST / HTTP/1.1\r\nHost: x\r\nConnection: upgrade\r\nUpgrade: foo\r\n"
                          b"Content-Length: 24\r\n\r\nGET /smuggled HTTP/1.1\r\n\r\n", 400),
    ("garbage", b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", 400),
    ("long_start_line", b"GET /" + b"a" * 3000 + b" HTTP/1.1\r\nHost: x\r\n\r\n", 431),
    ("big_header", b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 9000 + b"\r\n\r\n", 431),
    ("many_headers", b"GET / HTTP/1.1\r\nHost: x\r\n" + b"".join(b"X-H%d: v\r\n" % i for i in range(60)) + b"\r\n",
     431),
    ("cl_over_limit", b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 2000000\r\n\r\nabc", 413),
    ("chunked_over_limit", b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
     + (b"10000\r\n" + b"a" * 0x10000 + b"\r\n") * 17 + b"0\r\n\r\n", 413),
]


@pytest.fixture(scope="module")
def proxy(upstreams):
    from strangler.tests.conftest import ProxyHandle, base_config

    handle = ProxyHandle(base_config(upstreams["monolith"], upstreams["service"]))
    yield handle
    handle.close()


@pytest.mark.parametrize(("name", "data", "status"), CASES, ids=[c[0] for c in CASES])
def test_refused_and_closed(proxy, name, data, status):
    response, closed = raw_exchange(proxy.port, data)
    head, _, body = response.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 %d " % status), response[:200]
    assert b"connection: close" in head.lower()
    assert json.loads(body)["error"]["code"]
    assert closed, "connection must be closed after a refusal"
    # The next request on a fresh connection still works.
    ok, _ = raw_exchange(proxy.port, b"GET /after HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert ok.startswith(b"HTTP/1.1 200 ")


def test_refusal_after_a_good_pipelined_request(proxy):
    data = (b"GET /first HTTP/1.1\r\nHost: x\r\n\r\n"
            b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab")
    response, closed = raw_exchange(proxy.port, data)
    assert response.startswith(b"HTTP/1.1 200 ")
    assert b'"path": "/first"' in response
    assert b"HTTP/1.1 400 " in response and closed


def test_max_connections(upstreams):
    import socket
    import time

    from strangler.tests.conftest import ProxyHandle, base_config

    cfg = base_config(upstreams["monolith"], upstreams["service"])
    cfg["proxy"]["limits"]["max_connections"] = 2
    handle = ProxyHandle(cfg)
    try:
        held = [socket.create_connection(("127.0.0.1", handle.port)) for _ in range(2)]
        time.sleep(0.1)
        response, closed = raw_exchange(handle.port, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        assert response.startswith(b"HTTP/1.1 503 ") and closed
        for s in held:
            s.close()
        time.sleep(0.1)
        ok, _ = raw_exchange(handle.port, b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        assert ok.startswith(b"HTTP/1.1 200 ")
    finally:
        handle.close()
