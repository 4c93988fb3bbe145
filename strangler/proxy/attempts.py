"""Attempts: the slow path of an exchange (strangler.proxy.exchange.Exchange, which holds the
state): connecting, retrying after a jittered backoff and falling back to the monolith, as
strangler.proxy.retry decides. It runs as a coroutine, started only when the callback-only first
attempt on a pooled connection is not possible or did not succeed.
"""

from __future__ import annotations

import asyncio
import logging
import random

from strangler.proxy.breaker import CircuitBreaker
from strangler.proxy.retry import ABORTED, BREAKER_OPEN, Step, backoff_cap, next_step
from strangler.proxy.types import MONOLITH, Side
from strangler.proxy.upstream import UpstreamError
from strangler.proxy.upstream_pool import UpstreamPool

log = logging.getLogger("strangler.proxy")

BREAKER_OPEN_ERROR = UpstreamError(BREAKER_OPEN, "circuit breaker open")
ABORTED_ERROR = UpstreamError(ABORTED, "client went away")  # compared by identity


class Attempts:
    __slots__ = ()

    async def run(self, first: UpstreamError | None = None) -> None:
        """Attempts, retries and fallback as retry.next_step decides; `first` is the outcome of an
        attempt start() already made."""
        fwd = self.fwd
        route = self.decision.route
        side = self.decision.side
        error: UpstreamError | None = None
        try:
            while True:
                target = route.service if side is Side.SERVICE and route.service else MONOLITH
                self.target = target
                breaker = fwd.upstreams.breakers[target]
                can_fallback = side is Side.SERVICE and route.fallback and self.idempotent
                attempt = 0
                step = Step.GIVE_UP
                while True:
                    if first is not None:
                        error, first = first, None
                    elif self.expired is not None:
                        error = self.expired
                    elif breaker.allow():
                        self.reroute = self.idempotent and (attempt < route.retry.attempts or can_fallback)
                        error = await self._attempt(fwd.upstreams.pools[target], breaker)
                    else:
                        error = BREAKER_OPEN_ERROR
                    if error is None:
                        break
                    if self.upgrade is not None:  # a tunnel's handshake goes once, to the side decided
                        step = Step.GIVE_UP
                    else:
                        step = next_step(self.method, error.kind, attempt, side, route,
                                         response_started=self.resp_started, replayable=self.retained,
                                         idempotency_key=self.idempotency_key)
                    if step is not Step.RETRY:
                        break
                    attempt += 1
                    self.retries += 1
                    fwd.metrics.retries[(route.name, target)] += 1
                    await asyncio.sleep(random.uniform(0, backoff_cap(route.retry, attempt)))  # full jitter
                    if self.gone:
                        error = ABORTED_ERROR
                        break
                    if self.expired is not None:
                        error = self.expired
                        break
                if error is None or error is ABORTED_ERROR or step is not Step.FALL_BACK:
                    break
                side = Side.MONOLITH
                self.fallback = True
                fwd.metrics.fallbacks[route.name] += 1
            if error is not None and error is not ABORTED_ERROR:
                self._fail(error, side)
        except asyncio.CancelledError:
            self._abort_upstream()
            raise
        except Exception as exc:  # a bug here must still answer the client and free the connection
            log.exception("internal error while proxying")
            self._abort_upstream()
            self._fail(UpstreamError("internal", f"internal error: {type(exc).__name__}"), Side.MONOLITH)
        finally:
            self._finish()

    async def _attempt(self, pool: UpstreamPool, breaker: CircuitBreaker) -> UpstreamError | None:
        if self.gone:
            breaker.on_cancel()
            return ABORTED_ERROR
        conn = pool.get_idle() if self.upgrade is None else None  # a tunnel takes a fresh connection
        if conn is None:
            try:
                conn = await pool.connect()
            except UpstreamError as exc:
                breaker.on_failure()
                return exc
            if self.gone:
                conn.abort()
                breaker.on_cancel()
                return ABORTED_ERROR
        waiter = self.waiter = self.fwd.loop.create_future()
        self._begin(conn, pool, breaker)
        try:
            return await waiter
        finally:
            self.deadline = 0.0
