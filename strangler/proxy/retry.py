"""The retry/fallback decision of one proxied request, as a pure function.

After an attempt failed, ``next_step`` says whether to try the same target again, fall back to the
monolith, or give up and answer the client with the error (``give_up_answer``). It looks only at what it is given (no
sockets, no clock, no randomness), so every case is a plain unit test; ``backoff_cap`` gives the
ceiling of the jittered pause before a retry.
"""

from __future__ import annotations

import enum

from strangler.proxy.types import SAFE_METHODS, RetryPolicy, Route, Side

# UpstreamError kinds (strangler.proxy.upstream) with a meaning for the decision.
ABORTED = "aborted"  # the client went away: nobody is left to answer
BREAKER_OPEN = "breaker"  # the target's circuit breaker refused the attempt: retrying it is pointless
TIMEOUT = "timeout"  # no answer within the target's read timeout
CONNECT = "connect"  # no connection to the target
STATUS = "status"  # the target answered 502/503/504 and the request could have gone elsewhere
CLIENT_TIMEOUT = "client_timeout"  # the client's own body came too late, or it did not read the answer
DEADLINE = "deadline"  # the route's total response deadline passed (strangler.proxy.deadlines)
_FINAL = frozenset({ABORTED, CLIENT_TIMEOUT, DEADLINE})  # nothing to gain from another attempt
SERVICE_UNAVAILABLE_RETRY_AFTER = 5  # seconds a client should wait before re-sending a refused write


class Step(enum.Enum):
    RETRY = "retry"  # the same target again, after a jittered backoff
    FALL_BACK = "fall_back"  # the monolith instead of the failing service
    GIVE_UP = "give_up"  # answer the client with this failure (or nothing, when it is gone)


def may_resend(method: str, route: Route, *, idempotency_key: bool) -> bool:
    """Whether the request may reach an upstream twice: a safe method (GET, HEAD, OPTIONS), or a
    write carrying an Idempotency-Key on a route whose upstreams honour it (idempotency_key_honoured)."""
    return method in SAFE_METHODS or (idempotency_key and route.idempotency_key_honoured)


def next_step(
    method: str,
    failure: str,
    attempt: int,
    side: Side,
    route: Route,
    *,
    response_started: bool,
    replayable: bool,
    idempotency_key: bool = False,
) -> Step:
    """What to do after attempt number `attempt` (0 for the first) on `side` failed with `failure`.

    `response_started`: the upstream's status line already went out to the client, so nothing can
    replace it. `replayable`: the whole request body is still held, so it can be sent again.
    Only what may_resend allows is retried or falls back: a write without an honoured
    Idempotency-Key is never sent twice (the failing upstream may have applied it).
    """
    if failure in _FINAL or response_started or not replayable:
        return Step.GIVE_UP
    if not may_resend(method, route, idempotency_key=idempotency_key):
        return Step.GIVE_UP
    if failure != BREAKER_OPEN and attempt < route.retry.attempts:
        return Step.RETRY
    if side is Side.SERVICE and route.fallback:
        return Step.FALL_BACK
    return Step.GIVE_UP


def give_up_answer(failure: str, side: Side, idempotent: bool, upstream_status: int) -> tuple[int, str, int | None]:
    """The error the client gets when the proxy gives up: (status, code, Retry-After seconds or None).
    An open breaker's Retry-After is the breaker's own wait, which the caller fills in."""
    if failure == BREAKER_OPEN:
        return 503, "circuit_open", None
    if failure == CLIENT_TIMEOUT:
        return 408, "request_timeout", None
    if failure in (TIMEOUT, DEADLINE):
        return 504, "upstream_timeout", None
    if side is Side.SERVICE and not idempotent and failure in (CONNECT, STATUS):
        return 503, "service_unavailable", SERVICE_UNAVAILABLE_RETRY_AFTER
    if failure == STATUS:
        return upstream_status, "upstream_unavailable", None
    return 502, "bad_gateway", None


def backoff_cap(policy: RetryPolicy, retry: int) -> float:
    """Upper bound of the pause before retry number `retry` (1 for the first): exponential, capped."""
    return min(policy.backoff_max, policy.backoff_base * (2 ** (retry - 1)))
