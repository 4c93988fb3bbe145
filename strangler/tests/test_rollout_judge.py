"""The rollout's plan, evidence and decision as plain functions: no store, no sockets."""

from __future__ import annotations

import pytest

from strangler.control.rollout.evidence import Evidence, counters_of, since
from strangler.control.rollout.judge import Verdict, judge
from strangler.control.rollout.plan import Analysis, Plan, PlanError, Step, parse_steps, plan_from
from strangler.proxy.metrics import LATENCY_BUCKETS, Metrics
from strangler.proxy.types import Mode, Route, RouteState, RouteTable, Target

ANALYSIS = Analysis(interval=10, min_requests=20, max_error_share=0.01, max_p95_ratio=1.5, p95_slack=0.01,
                    max_diff_share=0.02)
CANARY = Step(Mode.CANARY, 10, 60.0)
SHADOW = Step(Mode.SHADOW, 0, 60.0)


def test_the_issue_s_plan_parses_and_round_trips() -> None:
    plan = plan_from(steps="shadow:10m,canary:1:10m,canary:10:10m,canary:50:10m,service", interval="30s",
                     min_requests=50, reconcile=True)
    assert [s.label for s in plan.steps] == ["shadow", "canary 1%", "canary 10%", "canary 50%", "service"]
    assert plan.steps[0].seconds == 600 and plan.steps[-1].seconds == 0
    assert plan.steps[-1].state == RouteState(Mode.SERVICE, 100)
    assert plan.analysis.reconcile is True
    assert Plan.from_dict(plan.as_dict()) == plan


@pytest.mark.parametrize(("steps", "message"), [
    ("", "at least one step"),
    ("canary:10m", "weight from 1 to 100"),
    ("canary:0:1m", "weight from 1 to 100"),
    ("monolith:1m", "abort it"),
    ("shadow,service", "needs a duration"),
    ("shadow:ten", "a duration is a number"),
    ("teleport:1m", "the mode is one of"),
])
def test_a_bad_plan_is_refused_with_a_reason(steps: str, message: str) -> None:
    with pytest.raises(PlanError, match=message):
        parse_steps(steps)


def test_bad_analysis_values_are_refused() -> None:
    with pytest.raises(PlanError, match="max_error_share"):
        plan_from(steps="service", max_error_share=2)
    with pytest.raises(PlanError, match="min_requests must be a number"):
        plan_from(steps="service", min_requests=2.5)
    with pytest.raises(PlanError, match="interval must be more than 0"):
        plan_from(steps="service", interval=0)
    with pytest.raises(PlanError, match=r"reconcile must be true or false \(the command is the route table's"):
        plan_from(steps="service", reconcile=["rm", "-rf", "/"])  # a plan never carries a command to run


def _seen(service: int = 0, errors: int = 0, service_ms: float = 5, monolith: int = 0, monolith_ms: float = 5,
          compared: int = 0, diffs: int = 0) -> Evidence:
    def buckets(n: int, ms: float) -> tuple[int, ...]:
        counts = [0] * (len(LATENCY_BUCKETS) + 1)
        counts[next(i for i, b in enumerate(LATENCY_BUCKETS) if ms / 1000 <= b)] = n
        return tuple(counts)

    return Evidence(service_requests=service, service_errors=errors, service_latency=buckets(service, service_ms),
                    monolith_requests=monolith, monolith_latency=buckets(monolith, monolith_ms), compared=compared,
                    diffs=diffs)


def test_a_step_watches_until_its_time_is_up_then_advances_on_enough_requests() -> None:
    seen = _seen(service=30, monolith=30)
    assert judge(CANARY, ANALYSIS, step_seen=seen, window_seen=seen, elapsed=30).verdict is Verdict.WATCH
    assert judge(CANARY, ANALYSIS, step_seen=seen, window_seen=seen, elapsed=60).verdict is Verdict.ADVANCE


def test_a_step_without_enough_judged_requests_holds_and_says_how_many() -> None:
    seen = _seen(service=3, monolith=300)
    decision = judge(CANARY, ANALYSIS, step_seen=seen, window_seen=seen, elapsed=600)
    assert decision.verdict is Verdict.HOLD
    assert "only 3 of 20" in decision.reason


def test_service_errors_roll_back_at_once_with_the_figures() -> None:
    window = _seen(service=40, errors=5, monolith=40)
    decision = judge(CANARY, ANALYSIS, step_seen=window, window_seen=window, elapsed=1)
    assert decision.verdict is Verdict.ROLLBACK
    assert "5 of 40" in decision.reason
    assert decision.figures["window"]["service_5xx"] == 5


def test_errors_in_the_last_window_count_even_when_the_whole_step_dilutes_them() -> None:
    step = _seen(service=10_000, errors=25, monolith=10_000)  # 0.25 %
    window = _seen(service=50, errors=25, monolith=50)  # 50 %
    assert judge(CANARY, ANALYSIS, step_seen=step, window_seen=window, elapsed=30).verdict is Verdict.ROLLBACK


def test_too_few_requests_to_judge_fail_nothing() -> None:
    seen = _seen(service=2, errors=2)
    assert judge(CANARY, ANALYSIS, step_seen=seen, window_seen=seen, elapsed=1).verdict is Verdict.WATCH


def test_a_slow_service_is_judged_against_the_monolith_on_the_same_route() -> None:
    slow = _seen(service=50, service_ms=200, monolith=50, monolith_ms=20)
    decision = judge(CANARY, ANALYSIS, step_seen=slow, window_seen=slow, elapsed=1)
    assert decision.verdict is Verdict.ROLLBACK and "p95" in decision.reason
    near = _seen(service=50, service_ms=20, monolith=50, monolith_ms=20)
    assert judge(CANARY, ANALYSIS, step_seen=near, window_seen=near, elapsed=1).verdict is Verdict.WATCH
    # A handful of answers has no p95 worth judging, even when the plan asks for no minimum.
    few = _seen(service=5, service_ms=200, monolith=50, monolith_ms=20)
    lax = Analysis(min_requests=0)
    assert judge(CANARY, lax, step_seen=few, window_seen=few, elapsed=1).verdict is Verdict.WATCH


def test_on_the_service_alone_the_remembered_monolith_p95_is_the_reference() -> None:
    service = Step(Mode.SERVICE, 100, 60.0)
    slow = _seen(service=50, service_ms=200)
    assert judge(service, ANALYSIS, step_seen=slow, window_seen=slow, elapsed=1).verdict is Verdict.WATCH
    decision = judge(service, ANALYSIS, step_seen=slow, window_seen=slow, elapsed=1, monolith_p95=0.02)
    assert decision.verdict is Verdict.ROLLBACK


def test_shadow_is_judged_on_differences_beyond_noise() -> None:
    clean = _seen(compared=100, diffs=1)
    assert judge(SHADOW, ANALYSIS, step_seen=clean, window_seen=clean, elapsed=60).verdict is Verdict.ADVANCE
    dirty = _seen(compared=100, diffs=10)
    decision = judge(SHADOW, ANALYSIS, step_seen=dirty, window_seen=dirty, elapsed=5)
    assert decision.verdict is Verdict.ROLLBACK and "10 of 100 mirrors" in decision.reason
    unmirrored = _seen(service=0, monolith=500)
    assert judge(SHADOW, ANALYSIS, step_seen=unmirrored, window_seen=unmirrored,
                 elapsed=60).verdict is Verdict.HOLD


def test_counters_sum_over_replicas_and_a_new_replica_counts_from_zero() -> None:
    route = Route("orders", "/api/orders", "orders")
    table = RouteTable(routes=(route,), targets={"monolith": Target("monolith", "127.0.0.1", 1),
                                                 "orders": Target("orders", "127.0.0.1", 2)})
    metrics = Metrics()
    for status in (200, 200, 502):
        metrics.observe("orders", "orders", status, 0.004)
    metrics.observe("orders", "monolith", 200, 0.004)
    metrics.shadow[("orders", "compared")] += 4
    counters = counters_of(metrics.snapshot(0.0), table)["orders"]
    assert (counters["service.total"], counters["service.5xx"], counters["monolith.total"]) == (3, 1, 1)
    baseline = {"a": {"service.total": 1, "service.5xx": 0}}
    seen = Evidence.of(since({"a": counters, "b": counters}, baseline))
    assert (seen.service_requests, seen.service_errors, seen.compared) == (2 + 3, 1 + 1, 8)


def test_unknown_analysis_settings_are_named() -> None:
    with pytest.raises(PlanError, match="unknown analysis settings: bogus"):
        plan_from(steps="service", bogus=1)
