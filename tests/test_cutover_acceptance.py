"""Cutover acceptance on PostgreSQL and Redis: the whole stack as real processes, shoppers driving
checkouts and payments through the strangler while the payments route moves, the service dies and
Redis stops. Nothing may be lost, doubled or (while nothing is broken) refused."""

from __future__ import annotations

import http.client
import json
import re
import threading
import time
import uuid

import pytest

from tests.cutover_support import (
    ADMIN_TOKEN,
    SECRET,
    Stack,
    run_crowd,
    shoppers,
    start_stack,
    stop_stack,
    verify_no_loss_no_duplicates,
)

pytestmark = [pytest.mark.integration, pytest.mark.acceptance, pytest.mark.timeout(600)]


@pytest.fixture(scope="module")
def st(tmp_path_factory):
    stack_ = start_stack(tmp_path_factory.mktemp("cutover"), uuid.uuid4().hex[:8])
    yield stack_
    stop_stack(stack_, stack_.db_names)


# Each phase of the flips test serves at least this many requests, however slow the machine: the
# load is a count, not a rate (a shared machine once served 1,033 requests in the phases' 54 s).
PHASE_REQUESTS = 420
PHASE_CAP = 4  # a phase lasts at most this many times its seconds, then the count check reports it


def _served(crowd) -> int:
    return sum(len(shopper.outcomes) for shopper in crowd)


def _dwell(crowd, seconds: float, *, at_least: int) -> None:
    """Let the shoppers run for `seconds`, and on until they were served `at_least` more requests."""
    start, started = _served(crowd), time.monotonic()
    time.sleep(seconds)
    while _served(crowd) - start < at_least and time.monotonic() - started < seconds * PHASE_CAP:
        time.sleep(0.2)


def _served_by_target(st: Stack) -> dict[str, int]:
    """2xx answers per target of the payments route, as the proxy counted them."""
    conn = http.client.HTTPConnection("127.0.0.1", st.ports.admin, timeout=10)
    try:
        conn.request("GET", "/metrics", headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})
        text = conn.getresponse().read().decode()
    finally:
        conn.close()
    served: dict[str, int] = {}
    for match in re.finditer(r'^strangler_requests_total\{route="payments",target="([^"]+)",status="2xx"\} (\d+)$',
                             text, re.M):
        served[match.group(1)] = served.get(match.group(1), 0) + int(match.group(2))
    return served


def _report(name: str, figures: dict) -> None:
    print(f"\n[{name}] " + ", ".join(f"{k}={v}" for k, v in figures.items()))


def test_route_moves_monolith_shadow_canary_service_monolith_without_losing_a_request(st: Stack):
    stop = threading.Event()
    crowd = shoppers(st, 10, stop)
    started = time.monotonic()
    backfill = {}

    def run_backfill() -> None:  # under load, while continuous sync already runs: both upsert
        result = st.manage("strangler_backfill", "payments", "--target", f"http://127.0.0.1:{st.ports.payments}", "--restart")
        backfill["rc"], backfill["out"] = result.returncode, result.stdout + result.stderr[-2000:]

    def dwell(seconds: float) -> None:
        _dwell(crowd, seconds, at_least=PHASE_REQUESTS)

    schedule = [
        lambda: dwell(6), run_backfill,
        lambda: st.flip("shadow"), lambda: dwell(10),
        lambda: st.flip("canary", 50), lambda: dwell(14),
        lambda: st.flip("service"), lambda: dwell(14),
        lambda: st.flip("monolith"), lambda: dwell(10),
    ]
    run_crowd(crowd, stop, schedule)
    seconds = time.monotonic() - started
    assert backfill["rc"] == 0, backfill["out"]
    failures = [f for s in crowd for f in s.failures]
    assert not failures, f"{len(failures)} failed client requests, e.g. {failures[:5]}"
    st.drain()
    figures = verify_no_loss_no_duplicates(st, crowd)
    assert seconds >= 30 and figures["requests"] >= 2000, (seconds, figures)
    result = st.reconcile()
    assert result.returncode == 0, result.stdout + result.stderr
    kinds = {o.kind for s in crowd for o in s.outcomes}
    assert {"checkout", "charge", "get", "refund"} <= kinds
    # Both sides really served through the proxy (its own counters, from its admin port).
    served = _served_by_target(st)
    assert served.get("monolith", 0) > 0 and served.get("payments", 0) > 0, served
    waits = [w for s in crowd for w in s.sync_waits]  # reads that met a payment not synced yet, and waited
    _report("flips", {**figures, "seconds": round(seconds, 1), "sync_waits": len(waits),
                      "longest_sync_wait_s": round(max(waits, default=0.0), 1)})


def _post_without_retry(port: int, token: str) -> tuple[int, str | None, dict]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("POST", "/api/v1/payments/", body=json.dumps({
            "order_id": str(uuid.uuid4()), "amount_minor": 500, "currency": "EUR", "card_token": "tok_visa"}),
            headers={"Content-Type": "application/json", "Authorization": f"Token {token}",
                     "Idempotency-Key": str(uuid.uuid4())})
        response = conn.getresponse()
        return response.status, response.getheader("Retry-After"), json.loads(response.read() or b"{}")
    finally:
        conn.close()


def test_killing_the_service_keeps_reads_answering_and_retried_writes_charge_once(st: Stack):
    st.flip("service")
    stop = threading.Event()
    crowd = shoppers(st, 4, stop, patient=True)
    probe = crowd[0]
    seen: dict[str, list] = {"get": [], "post": []}

    def outage() -> None:
        st.kill("payments")
        deadline = time.monotonic() + 6
        while time.monotonic() < deadline:
            settled = probe.settled()
            if settled:
                pid = probe.captured[settled[0]][0]
                conn = http.client.HTTPConnection("127.0.0.1", st.ports.proxy, timeout=10)
                conn.request("GET", f"/api/v1/payments/{pid}/", headers={"Authorization": f"Token {probe.token}"})
                response = conn.getresponse()
                seen["get"].append(response.status)
                response.read()
                conn.close()
            seen["post"].append(_post_without_retry(st.ports.proxy, probe.token)[:2])
            time.sleep(0.3)
        st.restart("payments")

    run_crowd(crowd, stop, [lambda: time.sleep(6), outage, lambda: time.sleep(12)])
    assert seen["get"] and set(seen["get"]) == {200}, seen["get"]  # fallback to the monolith's synced copy
    assert seen["post"] and all(status == 503 and retry_after for status, retry_after in seen["post"]), seen["post"]
    failures = [f for s in crowd for f in s.failures]
    assert not failures, f"requests that never succeeded: {failures[:5]}"
    retried = sum(1 for s in crowd for o in s.outcomes if o.attempts > 1)
    assert retried > 0, "no client had to retry: the outage did not hit the load"
    st.drain()
    figures = verify_no_loss_no_duplicates(st, crowd)
    result = st.reconcile()
    assert result.returncode == 0, result.stdout + result.stderr
    st.flip("monolith")
    _report("kill", {**figures, "retried_requests": retried})


def test_stopping_redis_for_10s_loses_no_event(st: Stack):
    st.flip("canary", 50)
    stop = threading.Event()
    crowd = shoppers(st, 4, stop)

    def redis_outage() -> None:
        st.redis.stop()
        time.sleep(10)
        pending_during = st.pending_outbox()
        st.redis.start()
        seen["pending_during_outage"] = pending_during

    seen: dict[str, int] = {}
    run_crowd(crowd, stop, [lambda: time.sleep(4), redis_outage, lambda: time.sleep(6)])
    failures = [f for s in crowd for f in s.failures]
    assert not failures, f"client requests failed while Redis was down: {failures[:5]}"
    assert seen["pending_during_outage"] > 0, "nothing waited in the outbox: the outage did not hit the load"
    st.drain(seconds=120)
    figures = verify_no_loss_no_duplicates(st, crowd)
    result = st.reconcile()
    assert result.returncode == 0, result.stdout + result.stderr
    st.flip("monolith")
    _report("redis", {**figures, **seen})


def test_the_service_refuses_calls_without_the_internal_credential(st: Stack):
    from strangler.proxy.credentials import credential_mint

    aud = "payments-service"
    for headers in ({}, {"X-Internal-Credential": credential_mint("not-the-secret", "strangler", audience=aud)},
                    {"X-Internal-Credential": credential_mint(SECRET, "strangler", audience=aud, ttl=-1)},
                    # minted for another service: refused by payments (issue 16 item 12)
                    {"X-Internal-Credential": credential_mint(SECRET, "strangler", audience="catalog")}):
        for path in ("/api/v1/payments/", "/internal/v1/payments/?order_id=" + str(uuid.uuid4())):
            conn = http.client.HTTPConnection("127.0.0.1", st.ports.payments, timeout=10)
            conn.request("GET", path, headers=headers)
            response = conn.getresponse()
            body = json.loads(response.read())
            conn.close()
            assert response.status == 401 and body["error"]["code"] == "internal_credential_required", (path, body)
