"""The migration dashboard without a browser: sessions and CSRF, the numbers it computes, escaping,
and the pages and data of a real `strangler serve` process in front of two real upstreams."""

from __future__ import annotations

import http.client
import json
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlencode

import pytest

from strangler.control.verifications import Verification, verification_append
from strangler.dashboard.auth import COOKIE, Sessions, api_denial
from strangler.dashboard.page import history_table, page
from strangler.dashboard.table import routes_table
from strangler.dashboard.traffic import TrafficHistory
from strangler.proxy.metrics import Metrics, histogram_quantile
from strangler.tests.control_support import (
    PROVIDER_VERSION,
    PYTHON,
    TOKEN,
    Process,
    contracts_text,
    pact_write,
    spawn,
    start_proxy,
)

pytestmark = pytest.mark.integration  # most tests here talk to a real proxy process

HERE = Path(__file__).parent
EVIL = '<script>alert("x")</script>'


# -- sessions and CSRF -------------------------------------------------------------------------------
class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_session_needs_the_token_and_its_cookie_is_not_the_token() -> None:
    clock = Clock()
    sessions = Sessions("s3cret", ttl=60, clock=clock)
    assert sessions.login("wrong") is None and sessions.login("") is None
    session = sessions.login("s3cret")
    assert session is not None
    cookie = sessions.set_cookie(session)
    assert "s3cret" not in cookie and session.csrf not in cookie
    assert {"HttpOnly", "SameSite=Strict", "Path=/", "Max-Age=60"} <= {p.strip() for p in cookie.split(";")}
    headers = {"cookie": f"other=1; {COOKIE}={session.id}"}
    assert sessions.from_headers(headers) is session
    assert sessions.from_headers({"cookie": f"{COOKIE}=forged"}) is None
    clock.now += 61
    assert sessions.from_headers(headers) is None  # expired
    again = sessions.login("s3cret")
    assert again is not None and again.id != session.id
    sessions.logout(again)
    assert sessions.from_headers({"cookie": f"{COOKIE}={again.id}"}) is None


def test_api_requests_need_a_bearer_or_a_cookie_plus_csrf_for_changes() -> None:
    sessions = Sessions("tok")
    session = sessions.login("tok")
    assert session is not None
    bearer = b"Bearer tok"
    cookie = {"cookie": f"{COOKIE}={session.id}"}
    assert api_denial(sessions, bearer, "PUT", {"authorization": "Bearer tok"}) is None  # no CSRF for bearer
    assert api_denial(sessions, bearer, "GET", {"authorization": "Bearer nope", **cookie})[0] == 401
    assert api_denial(sessions, bearer, "GET", {}) == (401, "missing or wrong bearer token")
    assert api_denial(sessions, bearer, "GET", cookie) is None
    assert api_denial(sessions, bearer, "PUT", cookie)[0] == 403
    assert api_denial(sessions, bearer, "POST", {**cookie, "x-csrf-token": "guess"})[0] == 403
    assert api_denial(sessions, bearer, "PUT", {**cookie, "x-csrf-token": session.csrf}) is None


# -- numbers -----------------------------------------------------------------------------------------
def test_histogram_quantile_interpolates_inside_the_bucket() -> None:
    assert histogram_quantile([0] * 14, 0.5) is None
    counts = [0] * 14
    counts[4] = 10  # ten observations in (10 ms, 25 ms]
    assert histogram_quantile(counts, 0.5) == pytest.approx(0.0175)
    counts[13] = 90  # ninety beyond the last bound: "more than 10 s"
    assert histogram_quantile(counts, 0.95) == 10.0


def test_traffic_history_sums_the_window_and_draws_rates() -> None:
    metrics, clock = Metrics(), Clock()
    history = TrafficHistory(lambda: metrics, every=2.0, clock=clock)
    history.sample()  # t=1000
    for _ in range(5):
        metrics.observe("pay", "monolith", 200, 0.02)
    clock.now += 10
    history.sample()  # t=1010: 5 monolith requests so far
    for status in (200, 200, 500, 502):
        metrics.observe("pay", "pay-svc", status, 0.004)
    metrics.shadow[("pay", "compared")] += 4
    metrics.shadow[("pay", "diffs")] += 1
    clock.now += 60
    view = history.view([("pay", ("monolith", "pay-svc"))], window=60)["pay"]
    assert view["window_seconds"] == 60.0  # from the snapshot at t=1010
    svc, mono = view["targets"]["pay-svc"], view["targets"]["monolith"]
    assert (mono["requests"], svc["requests"], svc["errors_5xx"], svc["error_rate"]) == (0, 4, 2, 0.5)
    assert svc["share"] == 1.0 and mono["error_rate"] is None
    assert 2.5 <= svc["p50_ms"] <= 5.0 and mono["p50_ms"] is None
    assert (view["shadow"]["compared"], view["shadow"]["diff_rate"]) == (4, 0.25)
    series = view["series"]["targets"]
    assert series["monolith"]["rps"] == [0.5, 0.0] and series["pay-svc"]["errors"] == [0.0, 0.033]


# -- escaping ----------------------------------------------------------------------------------------
def _hostile_data() -> dict:
    route = {
        "name": "pay", "prefix": "/api/<b>", "service": "svc", "mode": "shadow", "weight": 0, "applied": True,
        "breakers": {"monolith": "closed", "svc": "open"}, "traffic": {},
        "shadow": {"total": {"compared": 1, "diffs": 1, "noise": 0, "dropped": 0, "errors": 0},
                   "noisy_fields": [EVIL], "recent": [{"path": f"/api/{EVIL}", "status": [200, 500],
                                                       "fields": [EVIL], "error": EVIL}],
                   "values": [{"field": EVIL, "monolith": EVIL, "service": {"k": EVIL}}]},
        "contracts": {"state": "failed", "message": EVIL},
    }
    entry = {"id": 1, "at": 0.0, "actor": EVIL, "route": "pay", "from_mode": "monolith", "from_weight": 0,
             "to_mode": "shadow", "to_weight": 0, "reason": EVIL, "undoes": None, "forced": True}
    return {"generated_at": 0.0, "store_version": 1, "routes": [route], "history": [entry]}


def test_everything_rendered_is_escaped() -> None:
    data = _hostile_data()
    for html in (routes_table(data), history_table(data), page(data, 'c"srf')):
        assert "<script>" not in html and "/api/<b>" not in html
    html = page(data, 'c"srf')
    assert html.count("&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;") >= 7
    assert 'content="c&quot;srf"' in html
    assert "<script " in html and 'src="/dashboard/static/app.js"' in html  # the only script: a file


# -- a real proxy ------------------------------------------------------------------------------------
@dataclass
class Stack:
    proxy: Process
    record: Path

    def admin(self, method: str, path: str, body: bytes | None = None, headers: dict[str, str] | None = None,
              ) -> tuple[int, dict[str, str], bytes]:
        conn = http.client.HTTPConnection("127.0.0.1", self.proxy.ports["admin"], timeout=10)
        try:
            conn.request(method, path, body=body, headers=headers or {})
            response = conn.getresponse()
            return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
        finally:
            conn.close()

    def api(self, method: str, path: str, payload: object = None, cookie: str | None = None,
            csrf: str | None = None) -> tuple[int, dict]:
        """A JSON API call with the bearer token, or with a session cookie (and CSRF token) when given."""
        headers = {"Cookie": cookie} if cookie is not None else {"Authorization": f"Bearer {TOKEN}"}
        if csrf is not None:
            headers["X-CSRF-Token"] = csrf
        body = json.dumps(payload).encode() if payload is not None else None
        status, _, raw = self.admin(method, path, body, headers)
        return status, json.loads(raw)

    def login(self) -> tuple[str, str]:
        """(Cookie header, CSRF token) of a fresh session."""
        status, headers, _ = self.admin("POST", "/login", urlencode({"token": TOKEN}).encode(),
                                        {"Content-Type": "application/x-www-form-urlencoded"})
        assert status == 303 and headers["location"] == "/dashboard"
        cookie = headers["set-cookie"].split(";")[0]
        status, _, html = self.admin("GET", "/dashboard", headers={"Cookie": cookie})
        assert status == 200
        csrf = re.search(r'<meta name=csrf-token content="([^"]+)"', html.decode())
        assert csrf is not None
        return cookie, csrf[1]

    def get(self, path: str) -> int:
        conn = http.client.HTTPConnection("127.0.0.1", self.proxy.ports["proxy"], timeout=10)
        try:
            conn.request("GET", path, headers={"X-User-Id": "7"})
            response = conn.getresponse()
            response.read()
            return response.status
        finally:
            conn.close()

    def route(self, name: str) -> dict:
        status, data = self.api("GET", "/dashboard/data")
        assert status == 200, data
        return next(r for r in data["routes"] if r["name"] == name)


def _table(tmp: Path, monolith: int, service: int, record: Path) -> str:
    names = ("orders", "ledger", "stats")
    routes = "".join(f"""
[[routes]]
name = "{name}"
prefix = "/api/{name}"
service = "{name}"
""" for name in names)
    targets = "".join(f'[targets.{n}]\nurl = "http://127.0.0.1:{service}"\n' for n in names)
    return f"""
[proxy]
listen = "127.0.0.1:0"
access_log = false
[admin]
listen = "127.0.0.1:0"
token_env = "STRANGLER_ADMIN_TOKEN"
[store]
url = "sqlite:///{tmp}/routes.db"
{contracts_text(record, tmp / "pacts", {n: [n] for n in names})}
[targets.monolith]
url = "http://127.0.0.1:{monolith}"
{targets}{routes}
[routes.shadow]  # of the last route, stats: every mirror is compared, none replayed for noise
noise_sample = 0.0
"""


def _verified(record: Path, service: str, result: str) -> None:
    """The service's one pact (storefront's), verified against both implementations at PROVIDER_VERSION."""
    version = pact_write(record.parent / "pacts", "storefront", service)
    for against in ("monolith", "service"):
        verification_append(record, Verification("2026-01-01T00:00:00+00:00", service, "storefront", version,
                                                 service, PROVIDER_VERSION, against, result, "3 interactions"))


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    tmp = tmp_path_factory.mktemp("dashboard")
    upstreams = [spawn([PYTHON, str(HERE / "upstream_app.py"), side, "0"], tmp / f"{side}.log",
                       r"(?m)^(?P<port>\d+)$") for side in ("monolith", "service")]
    record = tmp / "record.jsonl"
    for name in ("orders", "ledger", "stats"):
        pact_write(tmp / "pacts", "storefront", name)
    _verified(record, "orders", "passed")
    _verified(record, "ledger", "failed")
    config = tmp / "routes.toml"
    config.write_text(_table(tmp, upstreams[0].ports["port"], upstreams[1].ports["port"], record))
    proxy = start_proxy(config, tmp / "proxy.log")
    try:
        yield Stack(proxy, record)
    finally:
        assert proxy.stop() == 0, proxy.log_text()
        for upstream in upstreams:
            upstream.stop()


def test_the_page_sends_strangers_to_the_login(stack: Stack) -> None:
    status, headers, _ = stack.admin("GET", "/dashboard")
    assert (status, headers["location"]) == (303, "/login")
    status, headers, _ = stack.admin("GET", "/dashboard", headers={"Cookie": f"{COOKIE}=forged"})
    assert (status, headers["location"]) == (303, "/login")
    status, headers, raw = stack.admin("GET", "/login")
    assert status == 200 and b'<form method=post action=/login>' in raw
    assert "default-src 'none'" in headers["content-security-policy"]
    status, data = stack.api("GET", "/dashboard/data", cookie="x=1")
    assert (status, data) == (401, {"error": "missing or wrong bearer token"})


@pytest.mark.parametrize("form", [{"token": "wrong"}, {"token": TOKEN + "x"}, {"token": ""}, {}])
def test_a_wrong_token_gets_the_login_page_again_and_no_cookie(stack: Stack, form: dict[str, str]) -> None:
    status, headers, raw = stack.admin("POST", "/login", urlencode(form).encode(),
                                       {"Content-Type": "application/x-www-form-urlencoded"})
    assert status == 401 and "set-cookie" not in headers
    assert headers["content-type"].startswith("text/html")
    assert b"class=error role=alert>" in raw and b"token" in raw


def test_login_sets_a_session_cookie_and_logout_ends_it(stack: Stack) -> None:
    status, headers, _ = stack.admin("POST", "/login", urlencode({"token": TOKEN}).encode(),
                                     {"Content-Type": "application/x-www-form-urlencoded"})
    assert (status, headers["location"]) == (303, "/dashboard")
    attributes = {a.strip() for a in headers["set-cookie"].split(";")}
    assert {"HttpOnly", "SameSite=Strict", "Path=/"} <= attributes
    cookie = headers["set-cookie"].split(";")[0]
    assert TOKEN not in cookie
    status, _, html = stack.admin("GET", "/dashboard", headers={"Cookie": cookie})
    assert status == 200 and b"migration dashboard" in html
    assert stack.admin("GET", "/login", headers={"Cookie": cookie})[1]["location"] == "/dashboard"
    csrf = re.search(r'name=csrf value="([^"]+)"', html.decode())[1]  # type: ignore[index]

    form = {"Cookie": cookie, "Content-Type": "application/x-www-form-urlencoded"}
    status, _, raw = stack.admin("POST", "/logout", b"csrf=guess", form)
    assert status == 403 and "CSRF" in json.loads(raw)["error"]
    status, headers, _ = stack.admin("POST", "/logout", urlencode({"csrf": csrf}).encode(), form)
    assert (status, headers["location"]) == (303, "/login") and "Max-Age=0" in headers["set-cookie"]
    assert stack.admin("GET", "/dashboard", headers={"Cookie": cookie})[0] == 303
    assert stack.api("GET", "/routes", cookie=cookie)[0] == 401


def test_cookie_changes_need_the_csrf_header(stack: Stack) -> None:
    cookie, csrf = stack.login()
    before = stack.api("GET", "/history?limit=1")[1]
    flip = {"mode": "shadow", "reason": "try"}
    for guess in (None, "guess", ""):
        status, body = stack.api("PUT", "/routes/orders", flip, cookie=cookie, csrf=guess)
        assert status == 403 and "CSRF" in body["error"]
        status, _ = stack.api("POST", "/routes/orders/rollback", {"reason": "r"}, cookie=cookie, csrf=guess)
        assert status == 403
    assert stack.api("GET", "/history?limit=1")[1] == before
    assert stack.api("GET", "/routes", cookie=cookie)[0] == 200  # reads need no CSRF token
    status, body = stack.api("PUT", "/routes/orders", {**flip, "actor": "ann"}, cookie=cookie, csrf=csrf)
    assert status == 200 and (body["changed"]["to_mode"], body["changed"]["actor"]) == ("shadow", "ann")
    status, body = stack.api("PUT", "/routes/orders", {"mode": "monolith", "reason": "back"})
    assert status == 200  # a bearer request needs none


def test_data_after_traffic(stack: Stack) -> None:
    for _ in range(7):
        assert stack.get("/api/stats/ok") == 200
    for _ in range(3):
        assert stack.get("/api/stats/boom?status=500") == 500
    stats = stack.route("stats")
    monolith = stats["traffic"]["targets"]["monolith"]
    assert (stats["mode"], stats["breakers"]) == ("monolith", {"monolith": "closed", "stats": "closed"})
    assert (monolith["requests"], monolith["errors_5xx"], monolith["share"]) == (10, 3, 1.0)
    assert monolith["error_rate"] == pytest.approx(0.3)
    assert 0 < monolith["p50_ms"] <= monolith["p95_ms"]
    assert stats["traffic"]["targets"]["stats"]["requests"] == 0  # the service is always listed
    assert set(stats["traffic"]["series"]["targets"]) == {"monolith", "stats"}


def test_shadow_diffs_are_sampled(stack: Stack) -> None:
    assert stack.api("PUT", "/routes/stats", {"mode": "shadow", "reason": "compare"})[0] == 200
    for i in range(3):
        assert stack.get(f"/api/stats/item/{i}") == 200
    deadline = time.monotonic() + 10
    while (shadow := stack.route("stats")["shadow"]) is None or shadow["total"]["compared"] < 3:
        assert time.monotonic() < deadline, f"the mirrors were never compared: {shadow}"
        time.sleep(0.05)
    assert shadow["total"]["diffs"] == 3  # each side names itself in "upstream"
    latest = shadow["recent"][0]
    assert latest["path"].startswith("/api/stats/item/") and latest["status"] == [200, 200]
    assert "upstream" in latest["fields"]
    assert any(v["field"] == "upstream" and v["service"] == "service" for v in shadow["values"])
    status, data = stack.api("GET", "/dashboard/data?fragments=1")
    assert "Shadow samples of stats" in data["fragments"]["routes"]
    assert stack.api("PUT", "/routes/stats", {"mode": "monolith", "reason": "done"})[0] == 200


def test_contract_status_is_shown_and_force_is_recorded(stack: Stack) -> None:
    orders, ledger = stack.route("orders"), stack.route("ledger")
    assert orders["contracts"]["state"] == "passed"
    assert ledger["contracts"]["state"] == "failed" and "failing" in ledger["contracts"]["message"]
    canary = {"mode": "canary", "weight": 10, "reason": "hotfix, contracts rerun later"}
    status, body = stack.api("PUT", "/routes/ledger", canary)
    assert status == 409 and "cannot go to canary" in body["error"]
    status, body = stack.api("PUT", "/routes/ledger", {**canary, "force": 1})
    assert (status, body["error"]) == (400, "force must be true or false")
    status, body = stack.api("PUT", "/routes/ledger", {**canary, "force": True})
    assert status == 200, body
    assert body["changed"]["reason"].startswith("hotfix, contracts rerun later [forced past: route 'ledger'")
    _, data = stack.api("GET", "/dashboard/data?fragments=1")
    latest = data["history"][0]
    assert (latest["route"], latest["to_mode"], latest["forced"]) == ("ledger", "canary", True)
    assert f'<tr class=forced data-id="{latest["id"]}">' in data["fragments"]["history"]
    routes = data["fragments"]["routes"]
    assert "contract-failed" in routes and "contract-passed" in routes
    _verified(stack.record, "ledger", "passed")  # a record written while the proxy runs counts at once
    assert stack.route("ledger")["contracts"]["state"] == "passed"
    assert stack.api("PUT", "/routes/ledger", {"mode": "monolith", "reason": "reset"})[0] == 200


def test_hostile_reason_and_actor_are_escaped_on_the_page(stack: Stack) -> None:
    flip = {"mode": "monolith", "reason": EVIL, "actor": "<img src=x>"}
    assert stack.api("PUT", "/routes/orders", flip)[0] == 200
    cookie, _ = stack.login()
    _, _, raw = stack.admin("GET", "/dashboard", headers={"Cookie": cookie})
    html = raw.decode()
    assert EVIL not in html and "<img src=x>" not in html
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in html and "&lt;img src=x&gt;" in html


def test_assets_and_unknown_paths(stack: Stack) -> None:
    status, headers, raw = stack.admin("GET", "/dashboard/static/app.js")
    assert status == 200 and headers["content-type"].startswith("text/javascript") and b"X-CSRF-Token" in raw
    assert stack.admin("GET", "/dashboard/static/app.css")[0] == 200
    cases = (("GET", "/dashboard/static/../../etc/passwd", 404), ("GET", "/dashboard/x", 404),
             ("DELETE", "/login", 405), ("PUT", "/dashboard", 405))
    for method, path, expected in cases:
        status, headers, raw = stack.admin(method, path)
        assert (status, headers["content-type"]) == (expected, "application/json")
        assert json.loads(raw)["error"]


def _rollout_card(stack: Stack, route: str, status: str) -> tuple[dict, str]:
    """The route's rollout and the rollouts fragment, once its status is `status` (the controller ticks each second)."""
    deadline = time.monotonic() + 20
    while True:
        for _ in range(5):
            stack.get(f"/api/{route}/x")
        _, data = stack.api("GET", "/dashboard/data?fragments=1")
        rollout = next(r for r in data["routes"] if r["name"] == route)["rollout"]
        if rollout and rollout["status"] == status and rollout.get("last"):
            return rollout, data["fragments"]["rollouts"]
        assert time.monotonic() < deadline, rollout
        time.sleep(0.2)


def test_a_rollout_is_shown_with_its_evidence_and_driven_from_the_page(stack: Stack) -> None:
    cookie, csrf = stack.login()
    _, _, page = stack.admin("GET", "/dashboard", headers={"Cookie": cookie})
    assert b'<form class=rollout-form data-route="orders"' in page and b"data-verb=abort" in page
    start = {"steps": "canary:100:1s,service", "reason": "cut orders <b>now</b>", "analysis": {"interval": 1,
                                                                                           "min_requests": 3}}
    assert stack.api("POST", "/rollouts/orders", start, cookie=cookie)[0] == 403  # no CSRF token
    status, body = stack.api("POST", "/rollouts/stats", start, cookie=cookie, csrf=csrf)
    assert status == 409 and "cannot go to canary" in body["error"]  # the gate: stats' contracts never ran
    status, body = stack.api("POST", "/rollouts/orders", start, cookie=cookie, csrf=csrf)
    assert status == 201 and body["rollout"]["current"] == "canary:100:1s", body
    rollout, html = _rollout_card(stack, "orders", "succeeded")
    assert stack.route("orders")["mode"] == "service"
    assert [e["verdict"] for e in rollout["events"]][-1] == "start"
    assert '<li class="step done">canary:100:1s</li>' in html and "rollout-succeeded" in html
    assert "cut orders &lt;b&gt;now&lt;/b&gt;" in html and "<b>now</b>" not in html
    # A rollout that cannot gather enough evidence holds, shows it, and is aborted from the page.
    hold = {**start, "steps": "canary:50:1s,service", "analysis": {"interval": 1, "min_requests": 100_000}}
    assert stack.api("POST", "/rollouts/orders", hold, cookie=cookie, csrf=csrf)[0] == 201
    rollout, html = _rollout_card(stack, "orders", "running")
    while rollout["last"]["verdict"] != "hold":
        rollout, html = _rollout_card(stack, "orders", "running")
    assert "holding, only" in html and "whole step" in html  # the decision and its evidence
    status, body = stack.api("POST", "/rollouts/orders/abort", {"reason": "not enough traffic"}, cookie=cookie,
                             csrf=csrf)
    assert status == 200 and body["rollout"]["status"] == "aborted"
    assert stack.route("orders")["mode"] == "monolith"
    assert stack.api("POST", "/rollouts/orders/abort", {"reason": "again"}, cookie=cookie, csrf=csrf)[0] == 409
