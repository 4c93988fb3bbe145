"""One proxied request: pick the side, send it upstream with retries/fallback, stream the answer.

Bodies never pass through queues: request chunks are written to the upstream transport from the
client parser's callback, response chunks to the client transport from the upstream parser's
callback. The first attempt on a pooled connection needs no task at all; a coroutine is started
only to connect, back off, retry or fall back.
"""

from __future__ import annotations

import asyncio
import logging
import math
import random
import time
from typing import TYPE_CHECKING

from strangler import tracing
from strangler.breaker import CircuitBreaker
from strangler.diff import MAX_BODY as SHADOW_CAPTURE  # the primary's answer is kept this far for comparison
from strangler.http1 import LAST_CHUNK, chunk_header, error_response, status_line
from strangler.types import IDEMPOTENT_METHODS, MONOLITH, Decision, Side, Target
from strangler.upstream import UpstreamConnection, UpstreamError, UpstreamPool

if TYPE_CHECKING:
    from strangler.downstream import ClientProtocol
    from strangler.server import ProxyServer

log = logging.getLogger("strangler.proxy")

BODY_NONE, BODY_LENGTH, BODY_CHUNKED = 0, 1, 2
REROUTE_STATUS = frozenset({502, 503, 504})  # an upstream saying "not me, not now": safe to try elsewhere
_BREAKER_OPEN = UpstreamError("breaker", "circuit breaker open")
_ABORTED = UpstreamError("aborted", "client went away")
_CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"
_NEEDS_LENGTH = frozenset({b"POST", b"PUT", b"PATCH"})


class Exchange:
    __slots__ = (
        "server", "client", "decision", "method", "method_b", "url", "head_common", "has_host",
        "version_10", "keep_alive", "request_id", "expect", "head_request", "idempotent",
        "body_mode", "body_buf", "body_bytes", "body_done", "retained", "retain_limit", "pending",
        "upstream", "up_chunked", "waiter", "reroute", "resp_started", "resp_status", "resp_chunked",
        "resp_done", "must_close", "target", "retries", "fallback", "t0", "progress",
        "capture", "cap_bytes", "cap_headers", "gone", "task", "content_length", "breaker", "deadline",
        "seen_progress", "timeout", "out_head", "fast", "span",  # span: set only when tracing is on
    )

    def __init__(
        self,
        server: ProxyServer,
        client: ClientProtocol,
        decision: Decision,
        method: str,
        method_b: bytes,
        url: bytes,
        head_common: bytes,
        *,
        has_host: bool,
        version_10: bool,
        keep_alive: bool,
        request_id: bytes,
        expect: bool,
        body_mode: int,
        content_length: int = 0,
    ) -> None:
        self.server = server
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
        self.idempotent = method in IDEMPOTENT_METHODS
        self.body_mode = body_mode
        self.content_length = content_length
        self.body_buf: list[bytes] = []
        self.body_bytes = 0
        self.body_done = body_mode == BODY_NONE
        self.retained = True  # body_buf still holds every byte received: the request can be replayed
        self.retain_limit = server.config.retry_buffer_bytes
        mirror = decision.mirror and server.shadow.admit(decision.route)
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
        self.out_head: bytes | None = None  # response head held back to go out with the first body bytes
        self.capture: list[bytes] | None = [] if mirror else None  # None: no mirror for this request
        self.cap_bytes = 0
        self.cap_headers: list[tuple[bytes, bytes]] = []
        self.gone = False
        self.task: asyncio.Task[None] | None = None
        self.breaker: CircuitBreaker | None = None  # of the current attempt's target

    # -- request body, fed by the client parser -------------------------------------------------
    def body_received(self, data: bytes) -> None:
        n = len(data)
        self.body_bytes += n
        self.progress += 1
        up = self.upstream
        if up is not None:
            if self.up_chunked:
                up.transport.writelines((chunk_header(n), data, b"\r\n"))  # type: ignore[union-attr]
            else:
                up.transport.write(data)  # type: ignore[union-attr]
            if self.retained:
                if self.body_bytes <= self.retain_limit:
                    self.body_buf.append(data)
                else:
                    self.retained = False
                    self.body_buf = []
            return
        self.body_buf.append(data)
        self.pending += n
        if self.body_bytes > self.retain_limit:
            self.retained = False
        if self.pending > self.server.config.retry_buffer_bytes:
            self.client.pause(2)  # nowhere to send it yet: stop reading until an upstream takes it

    def body_complete(self) -> None:
        self.body_done = True
        up = self.upstream
        if up is not None and self.up_chunked:
            up.transport.write(LAST_CHUNK)  # type: ignore[union-attr]

    # -- the retry / fallback policy ----------------------------------------------------------------
    def start(self) -> None:
        """Begin serving. With an idle upstream connection and a closed breaker (the common case)
        the first attempt runs on callbacks alone; a coroutine takes over only when connecting,
        retrying or falling back is needed."""
        self.t0 = time.monotonic()
        route = self.decision.route
        side = self.decision.side
        target = route.service if side is Side.SERVICE and route.service else MONOLITH
        server = self.server
        pool = server.pools[target]
        breaker = server.breakers[target]
        if pool.idle and breaker.allow():
            conn = pool.get_idle()
            if conn is not None:
                self.target = target
                self.reroute = self.idempotent and (
                    route.retry.attempts > 0 or (side is Side.SERVICE and route.fallback))
                self.fast = True
                self._begin(conn, pool, breaker)
                return
            breaker.on_cancel()
        self.task = server.loop.create_task(self.run())

    def _fast_done(self, error: UpstreamError | None) -> None:
        if error is None or error is _ABORTED:
            self._finish()
        else:
            self.task = self.server.loop.create_task(self.run(error))

    async def run(self, first: UpstreamError | None = None) -> None:
        """The retry/fallback policy; `first` is the outcome of an attempt start() already made."""
        server = self.server
        route = self.decision.route
        side = self.decision.side
        error: UpstreamError | None = None
        try:
            while True:
                target = route.service if side is Side.SERVICE and route.service else MONOLITH
                self.target = target
                breaker = server.breakers[target]
                can_fallback = side is Side.SERVICE and route.fallback and self.idempotent
                attempt = 0
                while True:
                    if first is not None:
                        error, first = first, None
                    elif breaker.allow():
                        self.reroute = self.idempotent and (attempt < route.retry.attempts or can_fallback)
                        error = await self._attempt(server.pools[target], breaker)
                    else:
                        error = _BREAKER_OPEN
                    if error is None or error is _ABORTED or self.resp_started or not self.retained:
                        break
                    if error is _BREAKER_OPEN or not self.idempotent or attempt >= route.retry.attempts:
                        break
                    attempt += 1
                    self.retries += 1
                    server.metrics.retries[(route.name, target)] += 1
                    cap = min(route.retry.backoff_max, route.retry.backoff_base * (2 ** (attempt - 1)))
                    await asyncio.sleep(random.uniform(0, cap))  # full jitter
                    if self.gone:
                        error = _ABORTED
                        break
                if error is None or error is _ABORTED or self.resp_started or not self.retained:
                    break
                if can_fallback:
                    side = Side.MONOLITH
                    self.fallback = True
                    server.metrics.fallbacks[route.name] += 1
                    continue
                break
            if error is not None and error is not _ABORTED:
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
            return _ABORTED
        conn = pool.get_idle()
        if conn is None:
            try:
                conn = await pool.connect()
            except UpstreamError as exc:
                breaker.on_failure()
                return exc
            if self.gone:
                conn.abort()
                breaker.on_cancel()
                return _ABORTED
        waiter = self.waiter = self.server.loop.create_future()
        self._begin(conn, pool, breaker)
        try:
            return await waiter
        finally:
            self.deadline = 0.0

    def _begin(self, conn: UpstreamConnection, pool: UpstreamPool, breaker: CircuitBreaker) -> None:
        self.breaker = breaker
        conn.begin(self, self.head_request)
        self.upstream = conn
        self._send_head(conn, pool.target)
        self.timeout = timeout = pool.target.read_timeout
        self.deadline = self.server.loop.time() + timeout
        self.seen_progress = self.progress

    def _send_head(self, conn: UpstreamConnection, target: Target) -> None:
        parts = [self.head_common, self.server.target_headers[target.name]]
        if not self.has_host:
            parts.append(self.server.host_headers[target.name])
        mode = self.body_mode
        if mode == BODY_LENGTH or (mode == BODY_CHUNKED and self.body_done):
            self.up_chunked = False
            length = self.content_length if mode == BODY_LENGTH else self.body_bytes
            parts.append(b"Content-Length: %d\r\n\r\n" % length)
        elif mode == BODY_CHUNKED:
            self.up_chunked = True
            parts.append(b"Transfer-Encoding: chunked\r\n\r\n")
        else:
            self.up_chunked = False
            parts.append(b"Content-Length: 0\r\n\r\n" if self.method_b in _NEEDS_LENGTH else b"\r\n")
        transport = conn.transport
        if self.up_chunked:
            for data in self.body_buf:
                parts += (chunk_header(len(data)), data, b"\r\n")
        else:
            parts += self.body_buf
        transport.write(b"".join(parts))  # type: ignore[union-attr]
        if not self.retained:
            self.body_buf = []
        self.pending = 0
        self.client.resume(2)

    def check_timeout(self, now: float) -> None:
        """Called by the server's periodic sweep: cheaper than a timer per request."""
        if not self.deadline or now < self.deadline:
            return
        if self.progress != self.seen_progress or (self.resp_started and self.client.write_paused):
            self.deadline = now + self.timeout
            self.seen_progress = self.progress
            return
        self.deadline = 0.0
        self._abort_upstream()
        self._resolve(UpstreamError("timeout", f"no answer from {self.target} within {self.timeout:g}s"))

    def _resolve(self, error: UpstreamError | None) -> None:
        """End the attempt; the breaker learns the outcome now, before the client can see it."""
        if self.fast:  # the callback-only first attempt made by start()
            self.fast = False
            self.deadline = 0.0
            self._settle(error)
            self._fast_done(error)
            return
        waiter = self.waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(error)
            self._settle(error)

    def _settle(self, error: UpstreamError | None) -> None:
        breaker, self.breaker = self.breaker, None
        if breaker is not None:
            if error is None:
                breaker.on_failure() if self.resp_status in REROUTE_STATUS else breaker.on_success()
            elif error is _ABORTED:
                breaker.on_cancel()
            else:
                breaker.on_failure()

    def _abort_upstream(self) -> None:
        up, self.upstream = self.upstream, None
        if up is not None:
            up.abort()

    # -- response, fed by the upstream parser (ResponseSink) ---------------------------------------
    def up_interim(self, status: int) -> None:
        if not self.version_10 and not self.resp_started and (status != 100 or self.expect):
            self.client.transport.write(_CONTINUE if status == 100 else status_line(status) + b"\r\n")

    def up_head(self, status: int, headers: list[tuple[bytes, bytes]], conn: UpstreamConnection) -> None:
        if self.reroute and status in REROUTE_STATUS:
            self.resp_status = status
            self._abort_upstream()
            self._resolve(UpstreamError("status", f"{self.target} answered {status}"))
            return
        self.resp_status = status
        self.resp_started = True
        self._settle(None)  # the status decides; settle before the client can see the answer
        client = self.client
        close = not self.keep_alive or client.closing
        lines = [n + b": " + v for n, v in headers]
        if not conn.has_length:
            if self.version_10:
                close = True
            else:
                self.resp_chunked = True
                lines.append(b"Transfer-Encoding: chunked")
        if not conn.has_request_id:
            lines.append(b"X-Request-ID: " + self.request_id)
        if close:
            self.must_close = True
            lines.append(b"Connection: close")
        elif self.version_10:
            lines.append(b"Connection: keep-alive")
        lines.append(b"\r\n")
        self.out_head = status_line(status) + b"\r\n".join(lines)
        if client.write_paused:
            conn.transport.pause_reading()  # type: ignore[union-attr]
        if self.capture is not None:
            self.cap_headers = headers

    def up_body(self, data: bytes) -> None:
        self.progress += 1
        head, self.out_head = self.out_head, None
        if self.resp_chunked:
            if head is None:
                self.client.transport.writelines((chunk_header(len(data)), data, b"\r\n"))
            else:
                self.client.transport.writelines((head, chunk_header(len(data)), data, b"\r\n"))
        elif head is None:
            self.client.transport.write(data)
        elif len(data) < 16384:
            self.client.transport.write(head + data)
        else:
            self.client.transport.writelines((head, data))
        if self.capture is not None and self.cap_bytes <= SHADOW_CAPTURE:
            self.capture.append(data)
            self.cap_bytes += len(data)

    def up_flush(self) -> None:
        head, self.out_head = self.out_head, None
        if head is not None:
            self.client.transport.write(head)

    def up_complete(self) -> None:
        head, self.out_head = self.out_head, None
        if self.resp_chunked:
            self.client.transport.write(LAST_CHUNK if head is None else head + LAST_CHUNK)
        elif head is not None:
            self.client.transport.write(head)
        self.resp_done = True
        conn, self.upstream = self.upstream, None
        if conn is not None:
            if self.body_done and conn.reusable():
                transport = conn.transport
                if not transport.is_reading():  # type: ignore[union-attr]
                    transport.resume_reading()  # type: ignore[union-attr]  # paused for a slow client
                conn.pool.release(conn)
            else:
                conn.abort()
        self._resolve(None)

    def up_lost(self, error: UpstreamError) -> None:
        self.upstream = None
        self._resolve(error)

    def up_pause_writing(self) -> None:
        self.client.pause(4)

    def up_resume_writing(self) -> None:
        self.client.resume(4)

    # -- client side events -------------------------------------------------------------------------
    def client_paused_writing(self) -> None:
        up = self.upstream
        if up is not None and self.resp_started:
            up.transport.pause_reading()  # type: ignore[union-attr]

    def client_resumed_writing(self) -> None:
        up = self.upstream
        if up is not None and self.resp_started:
            up.transport.resume_reading()  # type: ignore[union-attr]

    def cancel(self) -> None:
        """The client went away or broke the protocol: stop everything for this request."""
        self.gone = True
        self._abort_upstream()
        self._resolve(_ABORTED)

    # -- the end ------------------------------------------------------------------------------------
    def _fail(self, error: UpstreamError, side: Side) -> None:
        if self.gone or self.client.transport.is_closing():
            return
        if self.resp_started:
            if self.out_head is None:  # mid-body: the only honest signal left is closing the connection
                self.must_close = True
                return
            self.out_head = None  # the upstream's head never left: an error can still replace it
        kind = error.kind
        retry_after = None
        if kind == "breaker":
            status, code = 503, "circuit_open"
            retry_after = max(1, math.ceil(self.server.breakers[self.target].retry_after()))
        elif kind == "timeout":
            status, code = 504, "upstream_timeout"
        elif side is Side.SERVICE and not self.idempotent and kind in ("connect", "status"):
            status, code, retry_after = 503, "service_unavailable", 5
        elif kind == "status":
            status, code = self.resp_status, "upstream_unavailable"
        else:
            status, code = 502, "bad_gateway"
        close = not self.keep_alive or not self.body_done or self.client.closing
        self.must_close = self.must_close or close
        self.resp_status = status
        self.resp_started = True
        self.client.transport.write(error_response(
            status, code, str(error), close=close, request_id=self.request_id, retry_after=retry_after,
        ))

    def _finish(self) -> None:
        server = self.server
        route = self.decision.route
        duration = time.monotonic() - self.t0
        status = self.resp_status if self.resp_started else 499
        server.metrics.observe(route.name, self.target, status, duration)
        if tracing.TRACER is not None:
            tracing.TRACER.end(self, status)
        if server.access_log.enabled:
            target = self.target
            server.access_log.write(
                self.request_id, self.method, self.url, route.name, "monolith" if target == MONOLITH else "service",
                target, status, duration, self.retries, self.fallback, self.decision.reason,
            )
        if self.capture is not None and self.resp_done and not self.gone:
            server.shadow.submit(self)
        self.client.exchange_done(self)
