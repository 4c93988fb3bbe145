"""Circuit breaker per upstream target: a pure state machine with an injectable clock."""

from __future__ import annotations

import time
from collections.abc import Callable

from strangler.proxy.types import BreakerPolicy, BreakerState

# Members as module constants: on Python 3.11 EnumType defines __getattr__, so `Side.SERVICE` is a slow,
# unspecialisable attribute lookup (about 10x a global's); the hot path reads these instead.
_CLOSED, _OPEN, _HALF_OPEN = BreakerState.CLOSED, BreakerState.OPEN, BreakerState.HALF_OPEN


class CircuitBreaker:
    """closed -> open after N consecutive failures -> half-open after reset_timeout.

    Half-open lets `half_open_max` probes through at once; a success closes the breaker, a failure
    reopens it for another reset_timeout.
    """

    __slots__ = ("policy", "_clock", "_state", "_failures", "_opened_at", "_probes")

    def __init__(self, policy: BreakerPolicy, clock: Callable[[], float] = time.monotonic) -> None:
        self.policy = policy
        self._clock = clock
        self._state = _CLOSED
        self._failures = 0
        self._opened_at = 0.0
        self._probes = 0

    @property
    def state(self) -> BreakerState:
        if self._state is _OPEN and self._clock() - self._opened_at >= self.policy.reset_timeout:
            self._state = _HALF_OPEN
            self._probes = 0
        return self._state

    def allow(self) -> bool:
        """Whether a request may go to the target now; in half-open this takes a probe slot."""
        if self._state is _CLOSED:
            return True
        state = self.state
        if state is _OPEN:
            return False
        if self._probes >= self.policy.half_open_max:
            return False
        self._probes += 1
        return True

    def retry_after(self) -> float:
        """Seconds until the breaker lets a probe through (0 when it already would)."""
        if self.state is not _OPEN:
            return 0.0
        return max(0.0, self.policy.reset_timeout - (self._clock() - self._opened_at))

    def on_cancel(self) -> None:
        """A request let through ended without a verdict (the client left): free its probe slot."""
        if self._state is _HALF_OPEN and self._probes > 0:
            self._probes -= 1

    def on_success(self) -> None:
        self._failures = 0
        if self._state is not _CLOSED:
            self._state = _CLOSED
            self._probes = 0

    def on_failure(self) -> None:
        if self._state is _HALF_OPEN:
            self._open()
            return
        self._failures += 1
        if self._state is _CLOSED and self._failures >= self.policy.failure_threshold:
            self._open()

    def _open(self) -> None:
        self._state = _OPEN
        self._opened_at = self._clock()
        self._probes = 0
