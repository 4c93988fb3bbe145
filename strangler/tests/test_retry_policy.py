"""The retry/fallback decision (strangler.proxy.retry) as a pure function: no sockets, no loop."""

from __future__ import annotations

import pytest

from strangler.proxy.retry import ABORTED, BREAKER_OPEN, Step, backoff_cap, give_up_answer, next_step
from strangler.proxy.types import RetryPolicy, Route, Side

SERVICE_ROUTE = Route(name="payments", prefix="/api/v1/payments/", service="payments",
                      retry=RetryPolicy(attempts=2, backoff_base=0.05, backoff_max=1.0))
NO_FALLBACK = Route(name="payments", prefix="/api/v1/payments/", service="payments", fallback=False)


HONOURS_KEYS = Route(name="payments", prefix="/api/v1/payments/", service="payments",
                    idempotency_key_honoured=True)


def step(method="GET", failure="connect", attempt=0, side=Side.SERVICE, route=SERVICE_ROUTE, *,
         response_started=False, replayable=True, idempotency_key=False) -> Step:
    return next_step(method, failure, attempt, side, route, response_started=response_started,
                     replayable=replayable, idempotency_key=idempotency_key)


@pytest.mark.parametrize("failure", ["connect", "timeout", "status", "reset"])
def test_an_idempotent_request_is_retried_while_attempts_remain(failure):
    assert step(failure=failure, attempt=0) is Step.RETRY
    assert step(failure=failure, attempt=1) is Step.RETRY


def test_attempts_exhausted_on_the_service_fall_back_to_the_monolith():
    assert step(attempt=2) is Step.FALL_BACK


def test_attempts_exhausted_on_the_monolith_give_up():
    assert step(attempt=2, side=Side.MONOLITH) is Step.GIVE_UP


def test_a_route_without_fallback_gives_up_after_its_retries():
    assert step(attempt=NO_FALLBACK.retry.attempts, route=NO_FALLBACK) is Step.GIVE_UP


def test_an_open_breaker_is_not_retried_but_falls_back():
    assert step(failure=BREAKER_OPEN, attempt=0) is Step.FALL_BACK
    assert step(failure=BREAKER_OPEN, attempt=0, side=Side.MONOLITH) is Step.GIVE_UP


@pytest.mark.parametrize("method", ["POST", "PATCH"])
def test_a_non_idempotent_request_is_never_sent_twice(method):
    assert step(method=method, attempt=0) is Step.GIVE_UP
    assert step(method=method, failure=BREAKER_OPEN) is Step.GIVE_UP


@pytest.mark.parametrize("method", ["HEAD", "OPTIONS"])
def test_other_safe_methods_are_retried(method):
    assert step(method=method) is Step.RETRY


@pytest.mark.parametrize("method", ["PUT", "DELETE", "TRACE"])
def test_writes_are_neither_retried_nor_sent_to_the_monolith_after_the_service(method):
    # The service may have applied the write before it failed: sending it again may apply it twice.
    assert step(method=method) is Step.GIVE_UP
    assert step(method=method, attempt=2) is Step.GIVE_UP
    assert step(method=method, failure=BREAKER_OPEN) is Step.GIVE_UP
    assert step(method=method, idempotency_key=True) is Step.GIVE_UP  # a key the route does not say is honoured


@pytest.mark.parametrize("method", ["POST", "PUT", "PATCH", "DELETE"])
def test_a_write_with_an_idempotency_key_the_route_honours_is_retried_and_falls_back(method):
    assert step(method=method, route=HONOURS_KEYS, idempotency_key=True) is Step.RETRY
    assert step(method=method, route=HONOURS_KEYS, idempotency_key=True, attempt=2) is Step.FALL_BACK
    assert step(method=method, route=HONOURS_KEYS) is Step.GIVE_UP  # no key on the request


def test_may_resend():
    from strangler.proxy.retry import may_resend

    assert may_resend("GET", SERVICE_ROUTE, idempotency_key=False)
    assert not may_resend("PUT", SERVICE_ROUTE, idempotency_key=True)
    assert may_resend("PUT", HONOURS_KEYS, idempotency_key=True)
    assert not may_resend("PUT", HONOURS_KEYS, idempotency_key=False)


def test_once_the_response_started_nothing_can_replace_it():
    assert step(response_started=True) is Step.GIVE_UP


def test_a_body_no_longer_held_cannot_be_replayed():
    assert step(method="PUT", replayable=False) is Step.GIVE_UP


def test_a_client_gone_is_not_answered():
    assert step(failure=ABORTED) is Step.GIVE_UP


def test_no_retries_configured_goes_straight_to_fallback():
    route = Route(name="r", prefix="/r/", service="svc", retry=RetryPolicy(attempts=0))
    assert step(route=route) is Step.FALL_BACK


def test_backoff_doubles_up_to_its_cap():
    policy = RetryPolicy(attempts=5, backoff_base=0.1, backoff_max=0.3)
    assert [backoff_cap(policy, n) for n in (1, 2, 3, 4)] == [0.1, 0.2, 0.3, 0.3]


@pytest.mark.parametrize(
    ("failure", "side", "idempotent", "answer"),
    [
        (BREAKER_OPEN, Side.SERVICE, True, (503, "circuit_open", None)),
        ("timeout", Side.SERVICE, False, (504, "upstream_timeout", None)),
        ("connect", Side.SERVICE, False, (503, "service_unavailable", 5)),
        ("status", Side.SERVICE, False, (503, "service_unavailable", 5)),
        ("status", Side.MONOLITH, True, (503, "upstream_unavailable", None)),
        ("connect", Side.SERVICE, True, (502, "bad_gateway", None)),
        ("reset", Side.MONOLITH, False, (502, "bad_gateway", None)),
    ],
)
def test_the_answer_when_giving_up(failure, side, idempotent, answer):
    assert give_up_answer(failure, side, idempotent, upstream_status=503) == answer
