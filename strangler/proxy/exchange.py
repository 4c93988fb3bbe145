"""One proxied request: pick the side, send it upstream with retries/fallback, stream the answer.

Bodies never pass through queues: request chunks are written to the upstream transport from the
client parser's callback (strangler.proxy.request_body, which reads small bodies whole first),
response chunks to the client transport from the upstream parser's callback
(strangler.proxy.relay). The first attempt on a pooled connection needs no task at all; a
coroutine (strangler.proxy.attempts) is started only to connect, back off, retry or fall back. Timeouts and total deadlines
are in strangler.proxy.deadlines.
"""

from __future__ import annotations

import asyncio
import math
import time
from typing import TYPE_CHECKING

from strangler.proxy import tracing
from strangler.proxy.attempts import ABORTED_ERROR, Attempts
from strangler.proxy.breaker import CircuitBreaker
from strangler.proxy.deadlines import Deadlines
from strangler.proxy.diff import MAX_BODY as SHADOW_CAPTURE  # the primary's answer is kept for comparison
from strangler.proxy.http1 import error_response
from strangler.proxy.relay import REROUTE_STATUS, ResponseRelay
from strangler.proxy.request_body import BODY_CHUNKED, BODY_LENGTH, BODY_NONE, RequestBody
from strangler.proxy.retry import (
    BREAKER_OPEN,
    CLIENT_TIMEOUT,
    TIMEOUT,
    give_up_answer,
    may_resend,
)
from strangler.proxy.types import (
    MONOLITH,
    ClientSink,
    Decision,
    Side,
)
from strangler.proxy.upstream import UpstreamConnection, UpstreamError
from strangler.proxy.upstream_pool import UpstreamPool

if TYPE_CHECKING:
    from strangler.proxy.forwarding import Forwarding

__all__ = ["BODY_CHUNKED", "BODY_LENGTH", "BODY_NONE", "Exchange"]

# Members as module constants: on Python 3.11 EnumType defines __getattr__, so `Side.SERVICE` is a slow,
# unspecialisable attribute lookup (about 10x a global's); the hot path reads these instead.
_SERVICE = Side.SERVICE


class Exchange(Attempts, RequestBody, Deadlines, ResponseRelay):
    """One request from the client's head to the end of the answer: the first attempt here, retries
    and fallback in Attempts, the request body in RequestBody, the clocks in Deadlines, the
    upstream's answer relayed in ResponseRelay."""

    __slots__ = (
        "fwd", "client", "decision", "method", "method_b", "url", "head_common", "has_host",
        "version_10", "keep_alive", "request_id", "expect", "head_request", "idempotent", "idempotency_key",
        "body_mode", "body_buf", "body_bytes", "body_done", "retained", "retain_limit", "pending",
        "upstream", "up_chunked", "waiter", "reroute", "resp_started", "resp_status", "resp_chunked",
        "resp_done", "must_close", "target", "retries", "fallback", "t0", "progress",
        "capture", "cap_bytes", "cap_headers", "gone", "task", "content_length", "breaker", "deadline",
        "seen_progress", "timeout", "out_head", "fast", "waiting_body", "body_deadline", "resp_deadline", "expired",
        "shadow_held", "upgrade", "cohort", "pinned", "tunneled",
        "span",  # span: set only when tracing is on
    )

    def __init__(
        self,
        fwd: Forwarding,
        client: ClientSink,
        decision: Decision,
        method: str,
        method_b: bytes,
        url: bytes,
        head_common: bytes,
        has_host: bool,
        version_10: bool,
        keep_alive: bool,
        request_id: bytes,
        expect: bool,
        body_mode: int,
        content_length: int = 0,
        idempotency_key: bool = False,
        upgrade: bytes | None = None,
        cohort: int = 0,
    ) -> None:
        # Positional on the hot path (strangler.proxy.request_head): keyword arguments to a class call
        # build a dict per request.
        self.fwd = fwd
        # An upgrade (strangler.proxy.tunnel) goes once to the side decided now: never retried, never
        # fallen back, never mirrored. `cohort`: the client's canary bucket, kept by its tunnel.
        self.upgrade = upgrade
        self.cohort = cohort
        self.pinned = decision.reason == "override"
        self.tunneled = False
        self.client = client
        self.decision = decision
        self.method_b = method_b
        self.method = method
        self.url = url
        self.head_common = head_common
        self.has_host = has_host
        self.version_10 = version_10
        self.keep_alive = keep_alive
        self.request_id = request_id
        self.expect = expect
        self.head_request = method_b == b"HEAD"
        self.idempotency_key = idempotency_key  # the request carries an Idempotency-Key header
        self.idempotent = upgrade is None and may_resend(method, decision.route, idempotency_key=idempotency_key)
        self.body_mode = body_mode
        self.content_length = content_length
        self.body_buf: list[bytes] = []
        self.body_bytes = 0
        self.body_done = body_mode == BODY_NONE
        self.retained = True  # body_buf still holds every byte received: the request can be replayed
        self.retain_limit = fwd.retry_buffer_bytes
        mirror = decision.mirror and upgrade is None and fwd.shadow.admit(decision.route)
        if mirror:
            self.retain_limit = max(self.retain_limit, SHADOW_CAPTURE)
        self.pending = 0  # bytes in body_buf not yet written to the current upstream
        self.upstream: UpstreamConnection | None = None
        self.up_chunked = False
        self.waiter: asyncio.Future[UpstreamError | None] | None = None
        self.reroute = False
        self.resp_started = False
        self.resp_status = 0
        self.resp_chunked = False
        self.resp_done = False
        self.must_close = False
        self.target = MONOLITH
        self.retries = 0
        self.fallback = False
        self.t0 = 0.0
        self.progress = 0
        self.deadline = 0.0  # loop time when the current attempt times out, unless it made progress
        self.seen_progress = 0
        self.timeout = 0.0
        self.fast = False  # the first attempt runs on callbacks, without a task
        self.waiting_body = False  # started, reading a small body whole before taking an upstream
        self.body_deadline = self.resp_deadline = 0.0  # loop times (strangler.proxy.deadlines)
        self.expired: UpstreamError | None = None  # a total deadline passed: no further attempt
        self.out_head: bytes | None = None  # response head held back to go out with the first body bytes
        self.capture: list[bytes] | None = [] if mirror else None  # None: no mirror for this request
        self.cap_bytes = 0
        self.cap_headers: list[tuple[bytes, bytes]] = []
        self.shadow_held = 0  # bytes of body_buf and capture charged to the shadow byte budget
        self.gone = False
        self.task: asyncio.Task[None] | None = None
        self.breaker: CircuitBreaker | None = None  # of the current attempt's target

    # -- the retry / fallback policy ----------------------------------------------------------------
    def start(self) -> None:
        """Begin serving. With an idle upstream connection and a closed breaker (the common case)
        the first attempt runs on callbacks alone; a coroutine takes over only when connecting,
        retrying or falling back is needed."""
        self.t0 = time.monotonic()
        route = self.decision.route
        now = self.fwd.loop.time()
        self.body_deadline = now + route.deadlines.body
        self.resp_deadline = now + route.deadlines.response
        if not self.body_done and self.buffers_body():
            self.waiting_body = True
            side = self.decision.side
            self.target = route.service if side is _SERVICE and route.service else MONOLITH
            self.timeout = self.fwd.upstreams.targets[self.target].read_timeout
            self.deadline = now + self.timeout
            self.seen_progress = self.progress
            return
        self.launch()

    def launch(self) -> None:
        """The first attempt, once the body is in (when it is small) or streaming."""
        self.deadline = 0.0
        route = self.decision.route
        side = self.decision.side
        target = route.service if side is _SERVICE and route.service else MONOLITH
        upstreams = self.fwd.upstreams
        pool = upstreams.pools[target]
        breaker = upstreams.breakers[target]
        if self.upgrade is None and pool.idle and breaker.allow():
            conn = pool.get_idle()
            if conn is not None:
                self.target = target
                self.reroute = self.idempotent and (
                    route.retry.attempts > 0 or (side is _SERVICE and route.fallback))
                self.fast = True
                self._begin(conn, pool, breaker)
                return
            breaker.on_cancel()
        self.task = self.fwd.loop.create_task(self.run())

    def _begin(self, conn: UpstreamConnection, pool: UpstreamPool, breaker: CircuitBreaker) -> None:
        self.breaker = breaker
        conn.begin(self, self.head_request, self.upgrade)
        self.upstream = conn
        self.send_head(conn, pool.target)
        self.timeout = timeout = pool.target.read_timeout
        self.deadline = self.fwd.loop.time() + timeout
        self.seen_progress = self.progress

    def expire(self, error: UpstreamError) -> None:
        """A clock ran out (strangler.proxy.deadlines): end the attempt; a total deadline allows no other."""
        if error.kind != TIMEOUT:
            self.expired = error
        if self.waiting_body:  # no attempt yet: answer here
            self.waiting_body = False
            self._fail(error, self.decision.side)
            self._finish()
            return
        self._abort_upstream()
        self._resolve(error)

    def _resolve(self, error: UpstreamError | None) -> None:
        """End the attempt; the breaker learns the outcome now, before the client can see it."""
        if self.fast:  # the callback-only first attempt made by start()
            self.fast = False
            self.deadline = 0.0
            if self.breaker is not None:  # up_head settles an answered attempt already
                self._settle(error)
            if error is None or error is ABORTED_ERROR:
                self._finish()
            else:  # retries, fallback: a coroutine from here on (strangler.proxy.attempts)
                self.task = self.fwd.loop.create_task(self.run(error))
            return
        waiter = self.waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(error)
            self._settle(error)

    def _settle(self, error: UpstreamError | None, *, answered: bool = False) -> None:
        """Tell the target's breaker how the attempt went (once); ``answered``: a 503 with
        Retry-After, which is the upstream speaking, not failing (strangler.proxy.relay)."""
        breaker, self.breaker = self.breaker, None
        if breaker is not None:
            if error is None:
                failed = self.resp_status in REROUTE_STATUS and not answered
                breaker.on_failure() if failed else breaker.on_success()
            elif error is ABORTED_ERROR or error.kind == CLIENT_TIMEOUT:  # not the upstream's doing
                breaker.on_cancel()
            else:
                breaker.on_failure()

    def _abort_upstream(self) -> None:
        up, self.upstream = self.upstream, None
        if up is not None:
            up.abort()

    def cancel(self) -> None:
        """The client went away or broke the protocol: stop everything for this request."""
        self.gone = True
        if self.waiting_body:  # no attempt to end: only the exchange
            self.waiting_body = False
            self._finish()
            return
        self._abort_upstream()
        self._resolve(ABORTED_ERROR)

    # -- the end ------------------------------------------------------------------------------------
    def _fail(self, error: UpstreamError, side: Side) -> None:
        if self.gone or self.client.transport.is_closing():
            return
        if self.resp_started:
            if self.out_head is None:  # mid-body: the only honest signal left is closing the connection
                self.must_close = True
                return
            self.out_head = None  # the upstream's head never left: an error can still replace it
        status, code, retry_after = give_up_answer(error.kind, side, self.idempotent, self.resp_status)
        if error.kind == BREAKER_OPEN:
            retry_after = max(1, math.ceil(self.fwd.upstreams.breakers[self.target].retry_after()))
        close = not self.keep_alive or not self.body_done or self.client.closing
        self.must_close = self.must_close or close
        self.resp_status = status
        self.resp_started = True
        self.client.transport.write(error_response(
            status, code, str(error), close=close, request_id=self.request_id, retry_after=retry_after,
        ))

    def _finish(self) -> None:
        fwd = self.fwd
        route = self.decision.route
        duration = time.monotonic() - self.t0
        status = self.resp_status if self.resp_started else 499
        fwd.metrics.observe(route.name, self.target, status, duration)
        if tracing.TRACER is not None:
            tracing.TRACER.end(self, status)
        if fwd.access_log.enabled:
            target = self.target
            fwd.access_log.write(
                self.request_id, self.method, self.url, route.name, "monolith" if target == MONOLITH else "service",
                target, status, duration, self.retries, self.fallback, self.decision.reason,
            )
        if self.upgrade is not None and not self.tunneled:
            fwd.tunnels.release(self.client.client_ip)  # no tunnel after all: its slot is free again
        held, self.shadow_held = self.shadow_held, 0
        if held:
            fwd.shadow.release(held)  # the mirror job charges its own copies
        if self.capture is not None and self.resp_done and not self.gone:
            fwd.shadow.submit_soon(self)  # after this turn: the answer goes out first
        self.client.exchange_done(self)
