"""The clocks of one exchange and whose fault it is when one runs out.

Three clocks bound an exchange, all checked by the server's periodic sweep (no timer per request):

- inactivity: the current attempt, or the wait for a small request body to arrive, made no
  progress for the target's ``read_timeout``; any progress re-arms it (at the next sweep);
- the body deadline: the whole request body within ``route.deadlines.body`` of the head;
- the response deadline: the last response byte within ``route.deadlines.response`` of the head,
  retries included.

Progress never extends the last two, so a body sent a byte at a time or an answer read as slowly
cannot hold an upstream worker forever. A stream (a response whose media type is in the route's
``deadlines.stream_types``, server-sent events by default) has no response deadline: only the
read timeout between two chunks bounds it (strangler.proxy.relay). ``verdict`` is the pure decision (no clock, no sockets);
``Deadlines.check_timeout`` applies it to an exchange (strangler.proxy.exchange.Exchange). A
client that stalls its own body, or does not read its answer, is cut off with 408 or a closed
connection and does not count against the upstream's circuit breaker.
"""

from __future__ import annotations

import enum

from strangler.proxy.retry import CLIENT_TIMEOUT, DEADLINE, TIMEOUT
from strangler.proxy.types import PAUSE_UPSTREAM
from strangler.proxy.upstream import UpstreamError


class Verdict(enum.Enum):
    WAIT = "wait"  # nothing ran out
    EXTEND = "extend"  # the inactivity clock ran out but something moved (or only the client is slow): re-arm it
    CLIENT = "client"  # the client's fault: its body is late, or it does not read the answer
    UPSTREAM = "upstream"  # the upstream made no progress for its read timeout: may be retried
    DEADLINE = "deadline"  # a total deadline passed through no fault of the client: no time left to retry


def verdict(
    now: float,
    idle_deadline: float,
    hard_deadline: float,
    *,
    body_done: bool,
    progressed: bool,
    upstream_blocking: bool,
    client_slow: bool,
) -> Verdict:
    """`idle_deadline`: when the inactivity clock runs out (0: not armed). `hard_deadline`: the
    earlier of the body deadline (while the body is incomplete) and the response deadline (0: none).
    `upstream_blocking`: the upstream is not taking request bytes, so a late body is its fault.
    `client_slow`: the answer has started and the client's socket is full."""
    client_late = not body_done and not upstream_blocking
    if hard_deadline and now >= hard_deadline:
        return Verdict.CLIENT if client_late or client_slow else Verdict.DEADLINE
    if not idle_deadline or now < idle_deadline:
        return Verdict.WAIT
    if progressed or client_slow:
        return Verdict.EXTEND
    return Verdict.CLIENT if client_late else Verdict.UPSTREAM


_ERRORS = {Verdict.CLIENT: CLIENT_TIMEOUT, Verdict.UPSTREAM: TIMEOUT, Verdict.DEADLINE: DEADLINE}


class Deadlines:
    """The sweep's hook of an Exchange, which holds the state: `deadline`, `timeout` and
    `seen_progress` for inactivity, `body_deadline` and `resp_deadline` (loop times, 0 before start)."""

    __slots__ = ()

    def check_timeout(self, now: float) -> None:
        """Called by the server's periodic sweep: cheaper than a timer per request."""
        hard = self.resp_deadline
        if not self.body_done and self.body_deadline and (not hard or self.body_deadline < hard):
            hard = self.body_deadline
        if self.deadline and self.progress != self.seen_progress:
            # Re-armed on every sweep that sees progress, not only once it ran out: the read timeout is
            # then the longest silence between two chunks (a stream's heartbeats), give or take a tick.
            self.deadline = now + self.timeout
            self.seen_progress = self.progress
        client = self.client
        found = verdict(
            now, self.deadline, hard, body_done=self.body_done, progressed=self.progress != self.seen_progress,
            upstream_blocking=bool(client.pause_mask & PAUSE_UPSTREAM),
            client_slow=self.resp_started and client.write_paused,
        )
        if found is Verdict.WAIT:
            return
        if found is Verdict.EXTEND:
            self.deadline = now + self.timeout
            self.seen_progress = self.progress
            return
        self.deadline = 0.0
        kind = _ERRORS[found]
        if found is Verdict.UPSTREAM:
            message = f"no answer from {self.target} within {self.timeout:g}s"
        elif found is Verdict.CLIENT:
            message = "request body not received in time" if not self.body_done else "response not read in time"
        else:
            message = f"no complete answer from {self.target} within the route's deadline"
        self.expire(UpstreamError(kind, message))
