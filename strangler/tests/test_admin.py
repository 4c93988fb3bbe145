"""The admin API of a real `strangler serve` process in front of two real upstreams."""

from __future__ import annotations

import http.client
import json
import re
import signal
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from strangler.tests.control_support import (
    TOKEN,
    Process,
    cli,
    live_stack,
    start_proxy,
    start_upstream,
    write_config,
)

pytestmark = pytest.mark.integration


@dataclass
class Stack:
    proxy: Process
    config: Path

    def admin(self, method: str, path: str, body: object = None, token: str | None = TOKEN,
              ) -> tuple[int, dict[str, str], bytes]:
        conn = http.client.HTTPConnection("127.0.0.1", self.proxy.ports["admin"], timeout=5)
        headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
        data = json.dumps(body).encode() if body is not None else None
        if data is not None:
            headers["Content-Type"] = "application/json"
        try:
            conn.request(method, path, body=data, headers=headers)
            response = conn.getresponse()
            return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
        finally:
            conn.close()

    def admin_json(self, method: str, path: str, body: object = None, token: str | None = TOKEN) -> tuple[int, dict]:
        status, headers, raw = self.admin(method, path, body, token)
        assert headers["content-type"] == "application/json"
        return status, json.loads(raw)

    def side(self, path: str = "/api/orders/1") -> str:
        conn = http.client.HTTPConnection("127.0.0.1", self.proxy.ports["proxy"], timeout=5)
        try:
            conn.request("GET", path, headers={"X-User-Id": "7"})
            response = conn.getresponse()
            assert response.status == 200
            return json.loads(response.read())["side"]
        finally:
            conn.close()


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with live_stack(tmp_path_factory.mktemp("admin")) as (proxy, config):
        yield Stack(proxy, config)


@pytest.mark.parametrize("path", ["/routes", "/history", "/metrics", "/healthz"])
@pytest.mark.parametrize("token", [None, "wrong", TOKEN + "x", ""])
def test_every_endpoint_needs_the_token(stack: Stack, path: str, token: str | None) -> None:
    status, headers, raw = stack.admin("GET", path, token=token)
    assert status == 401
    assert headers["content-type"] == "application/json"
    assert json.loads(raw) == {"error": "missing or wrong bearer token"}
    assert headers["www-authenticate"].startswith("Bearer")


def test_writes_need_the_token_too(stack: Stack) -> None:
    status, body = stack.admin_json("PUT", "/routes/orders", {"mode": "service", "reason": "x"}, token="nope")
    assert status == 401
    status, body = stack.admin_json("POST", "/routes/orders/rollback", {"reason": "x"}, token=None)
    assert status == 401
    assert stack.side() == "monolith"


def test_set_via_the_api_changes_the_running_proxy(stack: Stack) -> None:
    assert stack.side() == "monolith"
    status, body = stack.admin_json("GET", "/routes")
    assert status == 200
    orders = next(r for r in body["routes"] if r["name"] == "orders")
    assert (orders["mode"], orders["weight"], orders["service"], orders["breaker"]) == ("monolith", 0, "orders",
                                                                                      "closed")

    status, body = stack.admin_json("PUT", "/routes/orders", {"mode": "service", "reason": "cut over",
                                                               "actor": "ann"})
    assert status == 200, body
    assert body["changed"]["to_mode"] == "service" and body["changed"]["actor"] == "ann"
    assert stack.side() == "service"  # applied to this replica before the API answered
    assert stack.side("/api/billing/1") == "monolith"  # other routes untouched

    status, body = stack.admin_json("GET", "/history?route=orders&limit=1")
    assert status == 200
    assert [(h["actor"], h["from_mode"], h["to_mode"], h["reason"]) for h in body["history"]] == [
        ("ann", "monolith", "service", "cut over")
    ]

    status, body = stack.admin_json("POST", "/routes/orders/rollback", {"reason": "errors"})
    assert status == 200, body
    assert body["changed"]["to_mode"] == "monolith" and body["changed"]["actor"] == "admin-api"
    assert stack.side() == "monolith"


def test_canary_and_shadow_via_the_api(stack: Stack) -> None:
    status, body = stack.admin_json("POST", "/routes/orders", {"mode": "canary", "weight": 100, "reason": "all"})
    assert status == 200, body
    assert stack.side() == "service"
    status, body = stack.admin_json("POST", "/routes/orders", {"mode": "shadow", "reason": "compare"})
    assert status == 200, body
    assert stack.side() == "monolith"  # shadow: the monolith answers
    deadline = time.monotonic() + 5
    while True:  # the mirror is compared after the client got its answer
        _, routes = stack.admin_json("GET", "/routes")
        orders = next(r for r in routes["routes"] if r["name"] == "orders")
        if orders["shadow"].get("compared") or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert (orders["mode"], orders["weight"]) == ("shadow", 0)
    assert orders["shadow"]["compared"] >= 1 and orders["shadow"]["diffs"] >= 1  # the sides differ
    assert "samples" not in orders["shadow"]
    stack.admin_json("POST", "/routes/orders", {"mode": "monolith", "reason": "reset"})


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "message"),
    [
        ("PUT", "/routes/orders", {"mode": "service"}, 400, "reason is required"),
        ("PUT", "/routes/orders", {"mode": "service", "reason": ""}, 400, "reason is required"),
        ("PUT", "/routes/orders", {"mode": "service", "reason": 3}, 400, "reason is required"),
        ("PUT", "/routes/orders", ["not", "an", "object"], 400, "JSON object"),
        ("PUT", "/routes/orders", {"mode": "blue", "reason": "r"}, 400, "mode must be one of"),
        ("PUT", "/routes/orders", {"mode": "canary", "reason": "r"}, 400, "canary mode needs a weight"),
        ("PUT", "/routes/orders", {"mode": "canary", "weight": 101, "reason": "r"}, 400, "between 0 and 100"),
        ("PUT", "/routes/orders", {"mode": "canary", "weight": "5", "reason": "r"}, 400, "integer"),
        ("PUT", "/routes/DEFAULT", {"mode": "service", "reason": "r"}, 400, "has no service"),
        ("PUT", "/routes/nope", {"mode": "service", "reason": "r"}, 404, "unknown route 'nope'"),
        ("POST", "/routes/billing/rollback", {"reason": "r"}, 409, "no change to roll back"),
        ("POST", "/routes/billing/rollback", {}, 400, "reason is required"),
        ("GET", "/nothing", None, 404, "no such endpoint"),
        ("DELETE", "/routes/orders", None, 405, "not allowed"),
    ],
)
def test_bad_requests_get_json_errors(stack: Stack, method: str, path: str, body: object, status: int,
                                      message: str) -> None:
    before = stack.admin_json("GET", "/history?limit=1")[1]
    got, payload = stack.admin_json(method, path, body)
    assert got == status
    assert message in payload["error"]
    assert stack.admin_json("GET", "/history?limit=1")[1] == before


def test_invalid_json_is_a_400(stack: Stack) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", stack.proxy.ports["admin"], timeout=5)
    conn.request("PUT", "/routes/orders", body=b"{not json", headers={"Authorization": f"Bearer {TOKEN}"})
    response = conn.getresponse()
    assert response.status == 400
    assert "JSON object" in json.loads(response.read())["error"]
    conn.close()


def test_metrics_is_prometheus_text(stack: Stack) -> None:
    for _ in range(3):
        stack.side()
    status, headers, raw = stack.admin("GET", "/metrics")
    assert status == 200
    assert headers["content-type"].startswith("text/plain; version=0.0.4")
    text = raw.decode()
    sample = re.compile(r'^[a-zA-Z_:][a-zA-Z0-9_:]*(\{[a-z_]+="[^"]*"(,[a-z_]+="[^"]*")*\})? -?[0-9.e+-]+$')
    for line in text.splitlines():
        assert line.startswith("# HELP ") or line.startswith("# TYPE ") or sample.match(line), line
    assert re.search(r'^strangler_requests_total\{route="orders",target="monolith",status="2xx"\} \d+$', text, re.M)
    assert re.search(r'^strangler_breaker_state\{target="orders"\} 0$', text, re.M)
    assert 'strangler_route_mode{route="orders",mode="monolith"} 1' in text
    families = re.findall(r"^# TYPE (\S+)", text, re.M)
    assert len(families) == len(set(families)), "a metric family is declared twice"


def test_cli_routes_shows_live_breaker_states(stack: Stack, tmp_path: Path) -> None:
    # The replica bound port 0; the operator's copy of the file names the real admin port.
    config = tmp_path / "routes.toml"
    config.write_text(stack.config.read_text().replace(
        'listen = "127.0.0.1:0"\ntoken_env', f'listen = "127.0.0.1:{stack.proxy.ports["admin"]}"\ntoken_env'))
    result = cli(config, "routes", "--json")
    assert result.returncode == 0, result.stderr
    breakers = {r["route"]: r["breaker"] for r in json.loads(result.stdout)["routes"]}
    assert breakers == {"orders": "closed", "billing": "closed", "DEFAULT": "-"}
    # Without the token the CLI cannot ask the proxy and says so.
    result = cli(config, "routes", "--json", STRANGLER_ADMIN_TOKEN="")
    assert {r["breaker"] for r in json.loads(result.stdout)["routes"]} == {"unknown", "-"}


def test_healthz(stack: Stack) -> None:
    status, body = stack.admin_json("GET", "/healthz")
    assert status == 200 and body["ok"] is True and body["version"] >= 1


def test_keep_alive_connection_serves_several_requests(stack: Stack) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", stack.proxy.ports["admin"], timeout=5)
    try:
        for path in ("/healthz", "/routes", "/healthz"):
            conn.request("GET", path, headers={"Authorization": f"Bearer {TOKEN}"})
            response = conn.getresponse()
            assert response.status == 200
            response.read()
    finally:
        conn.close()


@pytest.mark.parametrize(
    ("raw", "status"),
    [
        (b"GARBAGE\r\n\r\n", 400),
        (b"GET /routes HTTP/2.0\r\n\r\n", 400),
        (b"PUT /routes/orders HTTP/1.1\r\nContent-Length: 999999\r\n\r\n", 413),
        (b"PUT /routes/orders HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n", 413),
        (b"GET /healthz HTTP/1.0\r\nAuthorization: Bearer " + TOKEN.encode() + b"\r\n\r\n", 200),
    ],
)
def test_raw_requests_get_an_answer_and_a_close(stack: Stack, raw: bytes, status: int) -> None:
    with socket.create_connection(("127.0.0.1", stack.proxy.ports["admin"]), timeout=5) as sock:
        sock.sendall(raw)
        data = b""
        while chunk := sock.recv(65536):  # the server closes: no keep-alive after these
            data += chunk
    assert data.startswith(f"HTTP/1.1 {status} ".encode())
    assert b"\r\nConnection: close\r\n" in data


def test_sigterm_lets_requests_in_flight_finish(tmp_path: Path) -> None:
    monolith = start_upstream("monolith", tmp_path / "monolith.log")
    config = write_config(tmp_path, store_url=f"sqlite:///{tmp_path}/routes.db",
                          monolith_port=monolith.ports["port"])
    proxy = start_proxy(config, tmp_path / "proxy.log")
    try:
        conns = []
        for i in range(8):
            conn = http.client.HTTPConnection("127.0.0.1", proxy.ports["proxy"], timeout=10)
            conn.request("GET", f"/api/orders/slow/{i}")
            conns.append(conn)
        time.sleep(0.3)  # the requests are at the upstream now
        proxy.popen.send_signal(signal.SIGTERM)
        for conn in conns:
            response = conn.getresponse()
            assert response.status == 200
            assert json.loads(response.read()) == {"side": "monolith"}
            conn.close()
        assert proxy.popen.wait(10) == 0
        with pytest.raises(OSError):
            socket.create_connection(("127.0.0.1", proxy.ports["proxy"]), timeout=2).close()
        assert "stopping: closing the admin API, then draining the proxy" in proxy.log_text()
    finally:
        proxy.stop()
        monolith.stop()
