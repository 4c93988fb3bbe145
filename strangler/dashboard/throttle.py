"""Wrong admin tokens per client address: after FAILURE_LIMIT within FAILURE_WINDOW seconds, that
address is refused (429, Retry-After) until the oldest counted failure leaves the window, even with
the right token. A right token before that forgets the address's failures.

The admin token is long and random, so this is not what keeps it secret; it keeps a guesser from
hammering the admin port and makes the guessing visible (strangler_admin_auth_refused_total).
Behind a port-forward or a shared NAT every operator has one address: a guesser there locks them
out for at most a window. Memory is bounded: the least recently failing addresses are forgotten.
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict, deque
from collections.abc import Callable

FAILURE_LIMIT = 10
FAILURE_WINDOW = 60.0  # seconds
MAX_ADDRESSES = 4096


class FailureThrottle:
    def __init__(self, *, limit: int = FAILURE_LIMIT, window: float = FAILURE_WINDOW,
                 max_addresses: int = MAX_ADDRESSES, clock: Callable[[], float] = time.monotonic) -> None:
        self.limit = limit
        self.window = window
        self.max_addresses = max_addresses
        self._clock = clock
        self._failures: OrderedDict[str, deque[float]] = OrderedDict()
        self.refused = 0  # requests answered 429, since start

    def __len__(self) -> int:
        return len(self._failures)

    def retry_after(self, address: str) -> int | None:
        """Seconds until ``address`` may try again; None when it may now."""
        times = self._failures.get(address)
        if times is None:
            return None
        now = self._clock()
        while times and times[0] <= now - self.window:
            times.popleft()
        if not times:
            del self._failures[address]
            return None
        if len(times) < self.limit:
            return None
        return max(1, math.ceil(times[0] + self.window - now))

    def refuse(self) -> None:
        self.refused += 1

    def failed(self, address: str) -> None:
        times = self._failures.setdefault(address, deque(maxlen=self.limit))
        times.append(self._clock())
        self._failures.move_to_end(address)
        while len(self._failures) > self.max_addresses:
            self._failures.popitem(last=False)

    def succeeded(self, address: str) -> None:
        self._failures.pop(address, None)
