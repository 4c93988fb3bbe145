"""Shadow mode: comparison logic (pure) and mirroring end to end with real upstreams."""

from __future__ import annotations

import time

from strangler.proxy.diff import Response, compare, flatten
from strangler.proxy.types import Route, ShadowPolicy
from strangler.tests.conftest import base_config, hits, reset_hits

ROUTE = Route(name="r", prefix="/r", service="svc",
              shadow=ShadowPolicy(compare_headers=("Content-Type",), ignore_paths=("meta.*.at", "id")))


def _resp(body: bytes, status: int = 200, ctype: bytes = b"application/json") -> Response:
    return Response(status, [(b"Content-Type", ctype)], body, False)


def test_flatten():
    assert flatten({"a": {"b": [1, {"c": 2}]}, "d": [], "e": None}) == {"a.b.0": 1, "a.b.1.c": 2, "d": [], "e": None}


def test_compare_json_fields_status_headers_and_ignores():
    a = _resp(b'{"id": 1, "amount": 10, "meta": {"x": {"at": 1}}, "items": [1, 2]}')
    b = _resp(b'{"id": 2, "amount": 12, "meta": {"x": {"at": 9}}, "items": [1, 3]}')
    assert compare(a, b, ROUTE) == {"amount": (10, 12), "items.1": (2, 3)}
    assert compare(a, _resp(a.body, status=500), ROUTE) == {"status": (200, 500)}
    assert "header:content-type" in compare(a, _resp(a.body, ctype=b"text/html"), ROUTE)
    assert compare(_resp(b"not json"), _resp(b"other"), ROUTE) == {"body": ("not json", "other")}
    assert compare(a, _resp(b'{"id": 1, "amount": 10, "meta": {"x": {"at": 1}}}'), ROUTE) == {
        "items.0": (1, "<missing>"), "items.1": (2, "<missing>")}
    assert compare(a, a, ROUTE) == {}


def _wait_report(proxy, route, key, value, timeout=5.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        report = proxy.call(proxy.server.shadow_report).get(route, {})
        if report.get(key, 0) >= value:
            return report
        time.sleep(0.02)
    raise AssertionError(f"shadow report never reached {key}={value}: {report}")


def _shadow_proxy(make_proxy, upstreams, **shadow):
    policy = {"noise_sample": 1.0, "dry_run_header": "X-Dry-Run", "ignore_paths": ["upstream", "headers"]}
    policy.update(shadow)
    return make_proxy(base_config(upstreams["monolith"], upstreams["service"], mode="shadow", shadow=policy))


def test_noise_and_diff_are_told_apart(make_proxy, upstreams):
    proxy = _shadow_proxy(make_proxy, upstreams)
    # A random nonce differs service-vs-monolith *and* monolith-vs-monolith: noise, not a regression.
    status, body = proxy.json("GET", "/api/v1/payments/quote?amount=10&nonce=1")
    assert (status, body["upstream"], body["amount"]) == (200, "monolith", 10)
    report = _wait_report(proxy, "payments", "compared", 1)
    assert (report["noise"], report["diffs"]) == (1, 0)
    assert "request_nonce" in report["noisy_fields"]
    # A different amount is a real diff, even alongside the noisy nonce.
    status, body = proxy.json("GET", "/api/v1/payments/quote?amount=10&svc_amount=12&nonce=1")
    assert (status, body["amount"]) == (200, 10)  # the client got the monolith's answer
    report = _wait_report(proxy, "payments", "compared", 2)
    assert (report["noise"], report["diffs"]) == (1, 1)
    sample = report["samples"][-1]
    assert (sample["field"], sample["monolith"], sample["service"]) == ("amount", 10, 12)
    assert sample["path"].startswith("/api/v1/payments/quote")
    text = proxy.server.metrics.render()
    assert 'strangler_shadow_total{route="payments",outcome="diffs"} 1' in text
    assert 'strangler_shadow_total{route="payments",outcome="noise"} 1' in text


def test_unsafe_methods_mirrored_only_with_dry_run_header_and_never_replayed(make_proxy, upstreams):
    proxy = _shadow_proxy(make_proxy, upstreams)
    reset_hits(upstreams["service"])
    reset_hits(upstreams["monolith"])
    status, body = proxy.json("POST", "/api/v1/payments/charge?dry=1", body=b'{"amount": 5}')
    assert (status, body["upstream"], body["dry_run"]) == (200, "monolith", None)
    report = _wait_report(proxy, "payments", "compared", 1)
    assert report["samples"][-1]["field"] == "dry_run"
    assert report["samples"][-1]["service"] == "1"  # the mirror carried the dry-run header
    assert hits(upstreams["service"])["/api/v1/payments/charge"] == 1
    assert hits(upstreams["monolith"])["/api/v1/payments/charge"] == 1  # no noise replay for POST

    proxy = _shadow_proxy(make_proxy, upstreams, dry_run_header="")
    reset_hits(upstreams["service"])
    assert proxy.json("POST", "/api/v1/payments/charge2", body=b"{}")[0] == 200
    assert proxy.json("GET", "/api/v1/payments/after")[0] == 200
    _wait_report(proxy, "payments", "compared", 1)
    assert "/api/v1/payments/charge2" not in hits(upstreams["service"])


def test_mirror_does_not_delay_the_client_and_drops_when_saturated(make_proxy, upstreams):
    proxy = _shadow_proxy(make_proxy, upstreams, noise_sample=0.0)
    status, body = proxy.json("GET", "/api/v1/payments/slow?svc_sleep=0.5")
    assert (status, body["upstream"]) == (200, "monolith")
    # The client has its answer while the mirror is still waiting on the slow service.
    assert proxy.call(proxy.server.shadow_report).get("payments", {}).get("compared", 0) == 0
    _wait_report(proxy, "payments", "compared", 1)

    cfg = base_config(upstreams["monolith"], upstreams["service"], mode="shadow")
    cfg["proxy"]["shadow_concurrency"] = 0
    proxy = make_proxy(cfg)
    for _ in range(3):
        assert proxy.json("GET", "/api/v1/payments/x")[0] == 200
    report = _wait_report(proxy, "payments", "dropped", 3)
    assert report["compared"] == 0


def test_shedding_follows_cpu_utilisation():
    from strangler.proxy.shadow import Shadower

    shadower = Shadower(upstreams=None, metrics=None, concurrency=8)  # type: ignore[arg-type]
    shadower.adjust(0.5)
    assert shadower.shed == 0.0
    shadower.adjust(0.95)  # saturated: back off at once
    assert shadower.shed == Shadower.SHED_MAX
    shadower.adjust(0.7)  # in between: hold
    assert shadower.shed == Shadower.SHED_MAX
    shadower.adjust(0.3)  # idle: come back step by step
    assert 0.0 < shadower.shed < Shadower.SHED_MAX
    for _ in range(5):
        shadower.adjust(0.3)
    assert shadower.shed == 0.0
    off = Shadower(upstreams=None, metrics=None, concurrency=8, shed=False)  # type: ignore[arg-type]
    off.adjust(1.0)
    assert off.shed == 0.0


def test_shed_mirrors_are_dropped_and_counted(make_proxy, upstreams):
    proxy = _shadow_proxy(make_proxy, upstreams, noise_sample=0.0)
    shadower = proxy.server.shadow
    proxy.call(lambda: setattr(shadower, "shed", shadower.SHED_MAX))  # as if the core were saturated
    for _ in range(20):
        assert proxy.json("GET", "/api/v1/payments/busy")[0] == 200
    report = _wait_report(proxy, "payments", "dropped", 10)
    assert report["dropped"] + report["compared"] <= 20
    proxy.call(lambda: setattr(shadower, "shed", 0.0))
    before = report["compared"]
    assert proxy.json("GET", "/api/v1/payments/calm")[0] == 200
    _wait_report(proxy, "payments", "compared", before + 1)


def test_put_and_delete_are_mirrored_only_as_dry_runs_and_never_replayed(make_proxy, upstreams):
    proxy = _shadow_proxy(make_proxy, upstreams)
    reset_hits(upstreams["service"])
    reset_hits(upstreams["monolith"])
    for n, method in enumerate(("PUT", "DELETE"), start=1):
        status, body = proxy.json(method, f"/api/v1/payments/{method}?dry=1", body=b'{"amount": 5}')
        assert (status, body["upstream"], body["dry_run"]) == (200, "monolith", None)
        report = _wait_report(proxy, "payments", "compared", n)
        assert report["samples"][-1]["field"] == "dry_run"
        assert report["samples"][-1]["service"] == "1"  # the mirror carried the dry-run header
        assert hits(upstreams["service"])[f"/api/v1/payments/{method}"] == 1
        assert hits(upstreams["monolith"])[f"/api/v1/payments/{method}"] == 1  # no noise replay of a write

    proxy = _shadow_proxy(make_proxy, upstreams, dry_run_header="")
    reset_hits(upstreams["service"])
    assert proxy.json("PUT", "/api/v1/payments/put2", body=b"{}")[0] == 200
    assert proxy.json("DELETE", "/api/v1/payments/delete2")[0] == 200
    assert proxy.json("GET", "/api/v1/payments/after")[0] == 200
    _wait_report(proxy, "payments", "compared", 1)
    assert not {"/api/v1/payments/put2", "/api/v1/payments/delete2"} & set(hits(upstreams["service"]))
