"""The circuit breaker state machine with a fake clock."""

from __future__ import annotations

from strangler.proxy.breaker import CircuitBreaker
from strangler.proxy.types import BreakerPolicy, BreakerState


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_opens_after_consecutive_failures_only():
    clock = Clock()
    b = CircuitBreaker(BreakerPolicy(failure_threshold=3, reset_timeout=10), clock)
    b.on_failure()
    b.on_failure()
    b.on_success()  # resets the streak
    b.on_failure()
    b.on_failure()
    assert b.state is BreakerState.CLOSED and b.allow()
    b.on_failure()
    assert b.state is BreakerState.OPEN
    assert not b.allow()
    assert b.retry_after() == 10


def test_half_open_probes_then_close_or_reopen():
    clock = Clock()
    b = CircuitBreaker(BreakerPolicy(failure_threshold=1, reset_timeout=5, half_open_max=2), clock)
    b.on_failure()
    clock.now += 4.9
    assert b.state is BreakerState.OPEN and not b.allow()
    clock.now += 0.1
    assert b.state is BreakerState.HALF_OPEN
    assert b.allow() and b.allow() and not b.allow()  # two probes at most
    b.on_failure()  # a failed probe reopens
    assert b.state is BreakerState.OPEN
    clock.now += 5
    assert b.allow()
    b.on_success()
    assert b.state is BreakerState.CLOSED and b.allow()


def test_cancelled_probe_frees_its_slot():
    clock = Clock()
    b = CircuitBreaker(BreakerPolicy(failure_threshold=1, reset_timeout=1, half_open_max=1), clock)
    b.on_failure()
    clock.now += 1
    assert b.allow() and not b.allow()
    b.on_cancel()
    assert b.allow()
