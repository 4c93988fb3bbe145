"""The proxy as a security boundary (issue 16): trailers, encoded paths, proxy-owned headers and
duplicated routing headers, each over a raw socket against a running proxy and real upstreams."""

from __future__ import annotations

import json
import socket
import threading

import pytest

from strangler.tests.conftest import (
    ProxyHandle,
    base_config,
    header_value,
    hits,
    raw_exchange,
    read_until_closed,
    reset_hits,
)

LARGE_TRAILER = 3 * 1024 * 1024  # far past max_header_bytes (8 KiB in base_config), sent over many reads


@pytest.fixture(scope="module")
def proxy(upstreams):
    handle = ProxyHandle(base_config(upstreams["monolith"], upstreams["service"]))
    yield handle
    handle.close()


def split_responses(data: bytes) -> list[tuple[int, bytes, bytes]]:
    """(status, head, body) of each Content-Length framed response in `data`."""
    out = []
    while data:
        head, sep, rest = data.partition(b"\r\n\r\n")
        if not sep:
            break
        length = 0
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        out.append((int(head.split(b" ", 2)[1]), head, rest[:length]))
        data = rest[length:]
    return out


def send_and_read(port: int, data: bytes, timeout: float = 10.0) -> tuple[bytes, bool]:
    """Like raw_exchange, for inputs so large the proxy may refuse before reading them all."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        def send() -> None:
            try:
                sock.sendall(data)
            except OSError:
                pass  # refused and closed part way: the answer is what matters

        sender = threading.Thread(target=send, daemon=True)
        sender.start()
        answer = read_until_closed(sock)
        sender.join(timeout)
    return answer


# -- item 1: request trailers never reach an upstream, and never the next request -------------------
def test_trailers_do_not_leak_into_the_next_request(proxy):
    data = (b"POST /first HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
            b"5\r\nhello\r\n0\r\nX-Leak: 1\r\n\r\n"
            b"GET /second HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    response, _ = raw_exchange(proxy.port, data)
    answers = split_responses(response)
    assert [status for status, _, _ in answers] == [200, 200], response[:300]
    first, second = (json.loads(body) for _, _, body in answers)
    assert first["body"] == "hello"
    assert second["path"] == "/second"
    assert header_value(second["headers"], "x-leak") == []
    assert header_value(first["headers"], "x-leak") == []


# -- item 2: trailer bytes count against max_header_bytes ----------------------------------------------
@pytest.mark.parametrize(("size", "end"), [(20 * 1024, b"\r\n\r\n"), (LARGE_TRAILER, b"")],
                         ids=["complete", "never_ending"])
def test_oversized_trailers_are_refused(proxy, size, end):
    # never_ending: the value is still growing when the limit is passed; refused then, not held in memory
    data = (b"POST /big-trailer HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
            b"5\r\nhello\r\n0\r\nX-Big: " + b"a" * size + end)
    response, closed = send_and_read(proxy.port, data, timeout=5.0)
    head, _, body = response.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 431 "), response[:300]
    assert json.loads(body)["error"]["code"] == "headers_too_large"
    assert closed


# -- item 3: dot segments behind percent-encoding, encoded slashes, backslashes ------------------------
@pytest.fixture(scope="module")
def signing_proxy(upstreams):
    """Like deploy/local/routes.toml: the payments route on the service, which gets a credential."""
    cfg = base_config(upstreams["monolith"], upstreams["service"], mode="service")
    cfg["targets"]["payments"]["credential"] = {"caller": "strangler", "secret_env": "TEST_INTERNAL_SECRET"}
    handle = ProxyHandle(cfg, env={"TEST_INTERNAL_SECRET": "boundary-internal-secret"})
    yield handle
    handle.close()


TRAVERSALS = [
    b"/api/v1/payments/..%2f..%2f..%2finternal/v1/payments/",
    b"/api/v1/payments/..%2F..%2Finternal/",
    b"/api/v1/payments/%2e%2e/%2e%2e/internal/",
    b"/api/v1/payments/%2E%2e/internal/",
    b"/api/v1/payments/.%2e/internal/",
    b"/api/v1/payments/%2e/x",
    b"/api/v1/payments/a%2fb",
    b"/api/v1/payments/%252e%252e/%252e%252e/internal/",
    b"/api/v1/payments/%252f..%252f/internal/",
    b"/api/v1/payments/..\\..\\internal/",
    b"/api/v1/payments/%5c..%5cinternal/",
    b"/api/v1/payments/..;/..;/internal/",
    b"/api/v1/payments/%2e%2e",
]


@pytest.mark.parametrize("path", TRAVERSALS, ids=[p.decode() for p in TRAVERSALS])
def test_encoded_traversals_are_refused_before_any_upstream(signing_proxy, upstreams, path):
    service = upstreams["service"]
    reset_hits(service)
    response, closed = raw_exchange(signing_proxy.port, b"GET " + path + b" HTTP/1.1\r\nHost: x\r\n\r\n")
    head, _, body = response.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 400 "), response[:300]
    assert json.loads(body)["error"]["code"] == "bad_path"
    assert closed
    assert hits(service) == {}, "a refused path must not reach the service (with the proxy's credential)"


@pytest.mark.parametrize("path", ["/api/v1/payments/%70ay", "/api/v1/payments/100%25", "/api/v1/payments/.well-known",
                                  "/api/v1/payments/a..b/c.", "/api/v1/payments/%C3%A9"])
def test_ordinary_encoded_paths_still_pass(signing_proxy, path):
    status, body = signing_proxy.json("GET", path)
    assert status == 200 and body["upstream"] == "service" and body["path"] == path
    assert len(header_value(body["headers"], "x-internal-credential")) == 1


# -- item 7: headers the proxy owns are stripped from what clients send ----------------------------------
def test_proxy_owned_headers_from_clients_are_stripped(upstreams):
    cfg = base_config(upstreams["monolith"], upstreams["service"], mode="shadow")
    cfg["targets"]["monolith"]["add_headers"] = {"X-Tenant": "proxy"}
    handle = ProxyHandle(cfg)
    try:
        status, body = handle.json("POST", "/api/v1/payments/charge?dry=1", body=b"{}", headers={
            "X-Dry-Run": "0", "X-Strangler-Shadow": "1", "X-Tenant": "client",
            "Cookie": "a=1; strangler_override=service.payments.9999999999.forged; b=2",
            "X-Strangler-Override": "service.payments.9999999999.forged",
        })
        assert status == 200 and body["upstream"] == "monolith"
        h = body["headers"]
        assert body["dry_run"] is None
        assert header_value(h, "x-dry-run") == []
        assert header_value(h, "x-strangler-shadow") == []
        assert header_value(h, "x-tenant") == ["proxy"]
        assert header_value(h, "cookie") == ["a=1; b=2"]
        assert header_value(h, "x-strangler-override") == []
        # A Cookie header holding only the override disappears altogether.
        _, body = handle.json("GET", "/echo", headers={"Cookie": "strangler_override=x"})
        assert header_value(body["headers"], "cookie") == []
    finally:
        handle.close()


# -- item 11: duplicates of a header that decides routing ------------------------------------------------
@pytest.mark.parametrize("name", [b"Authorization", b"X-User-Id", b"X-Strangler-Override", b"X-Route-Me"])
def test_duplicate_routing_headers_are_refused(upstreams, name):
    cfg = base_config(upstreams["monolith"], upstreams["service"], mode="canary", weight=50)
    cfg["routes"].append({"name": "filtered", "prefix": "/api/v1/filtered", "service": "payments",
                          "header": "x-route-me: yes"})
    handle = ProxyHandle(cfg)
    try:
        data = (b"GET /api/v1/payments/x HTTP/1.1\r\nHost: x\r\n" + name + b": a\r\n"
                + name.lower() + b": b\r\n\r\n")
        response, closed = raw_exchange(handle.port, data)
        head, _, body = response.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 400 "), response[:300]
        assert json.loads(body)["error"]["code"] == "duplicate_header"
        assert closed
        ok, _ = raw_exchange(handle.port, b"GET /x HTTP/1.1\r\nHost: x\r\nX-Other: a\r\nX-Other: b\r\n"
                                          b"Connection: close\r\n\r\n")
        assert ok.startswith(b"HTTP/1.1 200 ")
    finally:
        handle.close()
