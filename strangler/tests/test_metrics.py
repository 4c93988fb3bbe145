"""The Prometheus text rendering of the in-process counters."""

from __future__ import annotations

from strangler.proxy.metrics import Metrics
from strangler.proxy.types import BreakerState


def test_render():
    m = Metrics()
    m.observe("payments", "payments", 201, 0.004)
    m.observe("payments", "payments", 503, 2.0)
    m.observe("payments", "payments", 499, 0.0005)
    m.retries[("payments", "payments")] += 2
    m.fallbacks["payments"] += 1
    m.shadow[("payments", "diffs")] += 3
    m.refused[431] += 1
    m.breaker_source = lambda: {"payments": BreakerState.HALF_OPEN, "monolith": BreakerState.CLOSED}
    text = m.render()
    lines = set(text.splitlines())
    for expected in (
        'strangler_requests_total{route="payments",target="payments",status="2xx"} 1',
        'strangler_requests_total{route="payments",target="payments",status="4xx"} 1',
        'strangler_requests_total{route="payments",target="payments",status="5xx"} 1',
        'strangler_request_duration_seconds_bucket{route="payments",target="payments",le="0.001"} 1',
        'strangler_request_duration_seconds_bucket{route="payments",target="payments",le="0.005"} 2',
        'strangler_request_duration_seconds_bucket{route="payments",target="payments",le="1.0"} 2',
        'strangler_request_duration_seconds_bucket{route="payments",target="payments",le="+Inf"} 3',
        'strangler_request_duration_seconds_count{route="payments",target="payments"} 3',
        'strangler_retries_total{route="payments",target="payments"} 2',
        'strangler_fallbacks_total{route="payments"} 1',
        'strangler_breaker_state{target="payments"} 1',
        'strangler_breaker_state{target="monolith"} 0',
        'strangler_shadow_total{route="payments",outcome="diffs"} 3',
        'strangler_refused_total{status="431"} 1',
        "# TYPE strangler_request_duration_seconds histogram",
    ):
        assert expected in lines, expected
    assert text.endswith("\n")
