"""Protocol hygiene: hop-by-hop headers, forwarding and tracing headers, bodiless responses."""

from __future__ import annotations

import json
import re
import socket

import pytest

from strangler.tests.conftest import ProxyHandle, base_config, header_value, raw_exchange


@pytest.fixture(scope="module")
def proxy(upstreams):
    handle = ProxyHandle(base_config(upstreams["monolith"], upstreams["service"]))
    yield handle
    handle.close()


def test_hop_by_hop_request_headers_are_stripped(proxy):
    status, body = proxy.json("GET", "/echo", headers={
        "Connection": "keep-alive, X-Private", "X-Private": "secret", "Keep-Alive": "timeout=5",
        "TE": "trailers", "Trailer": "X-T", "Upgrade": "websocket", "Proxy-Authorization": "Basic abc",
        "Proxy-Connection": "keep-alive", "X-Kept": "yes",
    })
    assert status == 200
    names = {k.lower() for k, _ in body["headers"]}
    for hop in ("x-private", "keep-alive", "te", "trailer", "upgrade", "proxy-authorization",
                "proxy-connection", "transfer-encoding"):
        assert hop not in names, hop
    assert header_value(body["headers"], "x-kept") == ["yes"]


def test_hop_by_hop_response_headers_are_stripped(proxy):
    status, headers, _ = proxy.request("GET", "/hop")
    assert status == 200
    for hop in ("x-secret-hop", "keep-alive", "proxy-authenticate", "upgrade", "trailer"):
        assert hop not in headers, hop
    assert headers["x-kept"] == "yes"


def test_forwarded_headers_replace_client_claims(proxy):
    _, body = proxy.json("GET", "/echo", headers={"X-Forwarded-For": "6.6.6.6", "Host": "shop.example",
                                                  "X-Forwarded-Host": "evil", "Forwarded": "for=1.2.3.4"})
    h = body["headers"]
    assert header_value(h, "x-forwarded-for") == ["127.0.0.1"]
    assert header_value(h, "x-forwarded-proto") == ["http"]
    assert header_value(h, "x-forwarded-host") == ["shop.example"]
    assert header_value(h, "host") == ["shop.example"]
    assert header_value(h, "forwarded") == []


def test_headers_with_underscores_are_dropped(proxy):
    # WSGI maps both X-Forwarded_For and X-Forwarded-For to HTTP_X_FORWARDED_FOR: never let one through.
    _, body = proxy.json("GET", "/echo", headers={"X-Forwarded_For": "6.6.6.6", "X_User": "u", "X-Ok": "1"})
    names = [k.lower() for k, _ in body["headers"]]
    assert "x-forwarded_for" not in names and "x_user" not in names and "x-ok" in names
    assert header_value(body["headers"], "x-forwarded-for") == ["127.0.0.1"]


def test_request_id_kept_when_valid_and_replaced_when_not(proxy):
    _, headers, data = proxy.request("GET", "/echo", headers={"X-Request-ID": "abc-123.DEF_4"})
    assert b'["X-Request-ID", "abc-123.DEF_4"]' in data
    assert headers["x-request-id"] == "abc-123.DEF_4"
    for bad in ("has space", "x" * 129, "semi;colon"):
        _, headers, data = proxy.request("GET", "/echo", headers={"X-Request-ID": bad})
        rid = re.search(rb'\["X-Request-ID", "([^"]+)"\]', data).group(1).decode()
        assert rid != bad and re.fullmatch(r"[A-Za-z0-9._-]{1,128}", rid)
        assert headers["x-request-id"] == rid
    _, headers, _ = proxy.request("GET", "/echo")
    assert re.fullmatch(r"[0-9a-f]{32}", headers["x-request-id"])


def test_traceparent_propagated_or_created(proxy):
    valid = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
    _, body = proxy.json("GET", "/echo", headers={"traceparent": valid, "tracestate": "k=v"})
    assert header_value(body["headers"], "traceparent") == [valid]
    assert header_value(body["headers"], "tracestate") == ["k=v"]
    for bad in (None, "garbage", "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
                "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"):
        _, body = proxy.json("GET", "/echo", headers={"traceparent": bad} if bad else {})
        (tp,) = header_value(body["headers"], "traceparent")
        assert tp != bad
        assert re.fullmatch(r"00-[0-9a-f]{32}-[0-9a-f]{16}-01", tp)


def test_204_304_and_head(proxy):
    status, headers, data = proxy.request("GET", "/x?status=204")
    assert (status, data) == (204, b"")
    status, headers, data = proxy.request("GET", "/x?status=304")
    assert (status, data, headers["etag"]) == (304, b"", '"v1"')
    # HEAD: Content-Length describes the GET body, none follows; the connection stays usable.
    with socket.create_connection(("127.0.0.1", proxy.port), timeout=5) as sock:
        sock.sendall(b"HEAD /h HTTP/1.1\r\nHost: x\r\n\r\nGET /after-head HTTP/1.1\r\nHost: x\r\n\r\n")
        data = b""
        while b"/after-head" not in data:
            chunk = sock.recv(65536)
            assert chunk
            data += chunk
    first, _, rest = data.partition(b"\r\n\r\n")
    assert first.startswith(b"HTTP/1.1 200 ") and b"Content-Length:" in first
    assert rest.startswith(b"HTTP/1.1 200 ")


def test_chunked_response_is_reframed(proxy):
    status, headers, data = proxy.request("GET", "/c?chunked=1")
    assert status == 200 and headers["transfer-encoding"] == "chunked"
    assert b'"path": "/c?chunked=1"' in data


def test_chunked_request_body_is_forwarded(proxy):
    response, _ = raw_exchange(proxy.port, b"POST /upload HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
                               b"Connection: close\r\n\r\n6\r\nhello \r\n5;ext=1\r\nworld\r\n0\r\n\r\n")
    assert response.startswith(b"HTTP/1.1 200 ")
    assert b'"body": "hello world"' in response and b'"body_size": 11' in response


def test_100_continue_is_relayed(proxy):
    with socket.create_connection(("127.0.0.1", proxy.port), timeout=5) as sock:
        sock.sendall(b"POST /cont HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n")
        interim = sock.recv(65536)
        assert interim.startswith(b"HTTP/1.1 100 Continue\r\n\r\n")
        sock.sendall(b"hello")
        data = interim[len(b"HTTP/1.1 100 Continue\r\n\r\n"):]
        while b'"body": "hello"' not in data:
            chunk = sock.recv(65536)
            assert chunk
            data += chunk
    assert data.startswith(b"HTTP/1.1 200 ")


def test_http10_client(proxy):
    response, closed = raw_exchange(proxy.port, b"GET /old HTTP/1.0\r\n\r\n")
    assert response.startswith(b"HTTP/1.1 200 ") and closed
    assert b'"path": "/old"' in response


def test_connection_close_honoured(proxy):
    response, closed = raw_exchange(proxy.port, b"GET /bye HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert response.startswith(b"HTTP/1.1 200 ") and closed
    assert b"Connection: close" in response


def test_upgrade_the_route_does_not_allow_is_refused(proxy):
    """Only the route's `tunnel.upgrades` (websocket by default) pass; h2c gets a JSON 400, not a tunnel.
    An Upgrade without "Connection: upgrade" is no upgrade request: dropped, served as plain HTTP
    (test_hop_by_hop_request_headers_are_stripped)."""
    response, closed = raw_exchange(proxy.port, b"GET /up HTTP/1.1\r\nHost: x\r\nConnection: Upgrade, HTTP2-Settings\r\n"
                                    b"Upgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQAAP__\r\n\r\n")
    assert response.startswith(b"HTTP/1.1 400 ") and closed
    error = json.loads(response.partition(b"\r\n\r\n")[2])["error"]
    assert error["code"] == "upgrade_not_allowed" and "websocket" in error["message"]


def test_generated_trace_ids_are_valid_unique_and_not_shared_with_a_forked_child():
    """Ids are drawn in batches (strangler.proxy.http1): each pair is a valid traceparent and its
    trace id, none repeats across batches, and a forked child never hands out the parent's ids."""
    import os

    from strangler.proxy.http1 import new_request_id, new_trace_ids, new_traceparent, valid_traceparent

    pairs = [new_trace_ids() for _ in range(1500)]  # several batches
    assert all(valid_traceparent(tp) and rid == tp[3:35] for tp, rid in pairs)
    assert len({rid for _, rid in pairs}) == len(pairs)
    assert valid_traceparent(new_traceparent()) and len(new_request_id()) == 32
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: its next id, to the parent
        os.write(write, new_trace_ids()[1])
        os._exit(0)
    os.close(write)
    child_id = os.read(read, 64)
    os.waitpid(pid, 0)
    os.close(read)
    parent_next = [new_trace_ids()[1] for _ in range(300)]
    assert len(child_id) == 32 and child_id not in parent_next
