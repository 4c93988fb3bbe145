"""Pure routing: matching, sticky canary buckets, decisions and signed overrides."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import replace
from pathlib import Path

from strangler.proxy.routing import RequestInfo, cohort_bucket, decide, match, sign_override, verify_override
from strangler.proxy.types import CohortKey, Mode, Route, RouteState, RouteTable, Side, Target

TARGETS = {"monolith": Target("monolith", "127.0.0.1", 1), "payments": Target("payments", "127.0.0.1", 2)}
PAYMENTS = Route(name="payments", prefix="/api/v1/payments", service="payments",
                 cohort=CohortKey("header", "x-user-id"))
TABLE = RouteTable(routes=(
    Route(name="refunds", prefix="/api/v1/payments/refunds", service="payments", methods=frozenset({"POST"})),
    PAYMENTS,
    Route(name="beta", prefix="/beta", service="payments", header=("x-beta", "1")),
    Route(name="DEFAULT", prefix="/", service=None),
), targets=TARGETS)


def test_match_longest_prefix_on_segment_boundary():
    assert match(TABLE, "GET", "/api/v1/payments").name == "payments"
    assert match(TABLE, "GET", "/api/v1/payments/7").name == "payments"
    assert match(TABLE, "GET", "/api/v1/payments?x=1").name == "payments"
    assert match(TABLE, "GET", "/api/v1/paymentsx").name == "DEFAULT"
    assert match(TABLE, "POST", "/api/v1/payments/refunds/1").name == "refunds"
    assert match(TABLE, "GET", "/api/v1/payments/refunds/1").name == "payments"  # method filter
    assert match(TABLE, "GET", "/beta/x").name == "DEFAULT"
    assert match(TABLE, "GET", "/beta/x", {"X-Beta": "1"}).name == "beta"


def _info(user: str | None = None, ip: str = "10.0.0.1", method: str = "GET", cookie: str | None = None):
    headers = {}
    if user is not None:
        headers[b"x-user-id"] = user.encode()
    if cookie is not None:
        headers[b"cookie"] = cookie.encode()
    return RequestInfo(method, headers, ip)


def test_modes():
    for mode, side in ((Mode.MONOLITH, Side.MONOLITH), (Mode.SERVICE, Side.SERVICE)):
        d = decide(replace(PAYMENTS, state=RouteState(mode)), _info("1"))
        assert (d.side, d.mirror) == (side, False)
    shadow = replace(PAYMENTS, state=RouteState(Mode.SHADOW))
    assert (decide(shadow, _info("1")).side, decide(shadow, _info("1")).mirror) == (Side.MONOLITH, True)
    assert decide(shadow, _info("1", method="POST")).mirror is False
    dry = replace(shadow, shadow=replace(shadow.shadow, dry_run_header="X-Dry-Run"))
    assert decide(dry, _info("1", method="POST")).mirror is True
    for method in ("PUT", "DELETE", "PATCH", "TRACE"):  # writes (and TRACE) are not mirrored as real requests
        assert decide(shadow, _info("1", method=method)).mirror is False, method
        assert decide(dry, _info("1", method=method)).mirror is True, method
    for method in ("GET", "HEAD", "OPTIONS"):
        assert decide(shadow, _info("1", method=method)).mirror is True, method
    assert decide(TABLE.routes[-1], _info("1"), Side.SERVICE).side is Side.MONOLITH  # DEFAULT has no service


def test_canary_sticky_and_split_within_two_points():
    for weight in (1, 10, 25, 50, 90):
        route = replace(PAYMENTS, state=RouteState(Mode.CANARY, weight))
        service = 0
        for user in range(10_000):
            info = _info(f"user-{user}")
            side = decide(route, info).side
            assert decide(route, info).side is side
            service += side is Side.SERVICE
        assert abs(service / 100 - weight) <= 2, (weight, service)
    assert decide(replace(PAYMENTS, state=RouteState(Mode.CANARY, 0)), _info("u")).side is Side.MONOLITH
    assert decide(replace(PAYMENTS, state=RouteState(Mode.CANARY, 100)), _info("u")).side is Side.SERVICE


def test_canary_ramp_only_adds_cohorts():
    """Raising the weight never moves a cohort already on the service back to the monolith."""
    low = replace(PAYMENTS, state=RouteState(Mode.CANARY, 10))
    high = replace(PAYMENTS, state=RouteState(Mode.CANARY, 30))
    for user in range(2000):
        if decide(low, _info(str(user))).side is Side.SERVICE:
            assert decide(high, _info(str(user))).side is Side.SERVICE


def test_cohort_falls_back_to_client_ip_and_reads_cookies():
    route = replace(PAYMENTS, state=RouteState(Mode.CANARY, 50))
    sides = {decide(route, _info(None, ip=f"10.0.{i}.1")).side for i in range(50)}
    assert sides == {Side.SERVICE, Side.MONOLITH}
    for i in range(50):
        ip = f"10.1.{i}.1"
        assert decide(route, _info(None, ip=ip)).side is decide(route, _info(None, ip=ip)).side
    by_cookie = replace(route, cohort=CohortKey("cookie", "uid"))
    a = decide(by_cookie, _info(cookie="x=1; uid=abc", ip="1.1.1.1")).side
    assert all(decide(by_cookie, _info(cookie=f"uid=abc; y={i}", ip=f"2.2.2.{i}")).side is a for i in range(20))


def test_bucket_is_stable_across_processes():
    keys = [b"h:alice", b"h:bob", b"ip:10.0.0.1"]
    here = [cohort_bucket(k) for k in keys]
    code = ("from strangler.proxy.routing import cohort_bucket; "
            f"print([cohort_bucket(k) for k in {keys!r}])")
    other = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                           env={"PYTHONHASHSEED": "123", "PATH": ""}, cwd=str(Path(__file__).parents[2]))
    assert other.stdout.strip() == str(here)
    assert all(0 <= b < 100 for b in here)


def test_signed_override():
    secret = b"k"
    token = sign_override(secret, Side.SERVICE, "payments", 1000)
    assert verify_override(secret, token, "payments", now=999) is Side.SERVICE
    assert verify_override(secret, token, "payments", now=1000) is None  # expired
    assert verify_override(secret, token, "refunds", now=1) is None  # other route
    assert verify_override(b"other", token, "payments", now=1) is None
    assert verify_override(None, token, "payments", now=1) is None  # overrides disabled
    side, route, expires, sig = token.split(".")
    assert verify_override(secret, f"{side}.{route}.9999.{sig}", "payments", now=1) is None  # extended expiry
    assert verify_override(secret, f"monolith.{route}.{expires}.{sig}", "payments", now=1) is None
    assert verify_override(secret, "service", "payments", now=1) is None
    mono = sign_override("k", "monolith", "payments", 1000)
    assert verify_override("k", mono, "payments", now=1) is Side.MONOLITH
    route = replace(PAYMENTS, state=RouteState(Mode.SERVICE))
    assert decide(route, _info("1"), Side.MONOLITH).reason == "override"
