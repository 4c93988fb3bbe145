"""The client-facing connection: protocol hygiene, pipelining (at most `max_pipelined` requests queued
per connection), flow control, refusals.

This is the security boundary: anything ambiguous about framing is refused with a JSON error
and the connection is closed, because two parsers disagreeing about where a request ends is
how requests get smuggled past a proxy. The request head itself is read and checked by the
httptools callbacks in strangler.proxy.request_head.
"""

from __future__ import annotations

import asyncio
from collections import deque
from typing import TYPE_CHECKING, Protocol

import httptools

from strangler.proxy.exchange import Exchange
from strangler.proxy.forwarding import Forwarding
from strangler.proxy.http1 import error_response
from strangler.proxy.refusals import LIMIT_RETRY_AFTER, Refusals
from strangler.proxy.request_head import Refused, RequestHead
from strangler.proxy.request_headers import header_kinds
from strangler.proxy.routing import CompiledTable
from strangler.proxy.types import PAUSE_BODY, PAUSE_PIPELINE, PAUSE_UPGRADE, PAUSE_UPSTREAM

if TYPE_CHECKING:
    from strangler.proxy.accesslog import AccessLog
    from strangler.proxy.config import ProxyConfig
    from strangler.proxy.metrics import Metrics


class Frontend(Protocol):
    """What a client connection needs of the proxy that accepted it (strangler.proxy.server.ProxyServer)."""

    config: ProxyConfig
    connections: set[ClientProtocol]
    per_client: dict[str, int]  # open connections per client address, when limited
    metrics: Metrics
    loop: asyncio.AbstractEventLoop
    compiled: CompiledTable  # swapped whole when route states change
    override_secret: bytes | None
    access_log: AccessLog
    closing: bool
    forwarding: Forwarding  # handed to every exchange


_READ_SLACK = 256 * 1024  # one socket read may hold the previous body's tail plus the next head
# Bytes a client may send after an upgrade request's head before the answer (reading then pauses;
# one read can hold this much).
MAX_EARLY_TUNNEL_BYTES = 256 * 1024


class PipelineFull(Exception):
    """A request head arrived with `max_pipelined` requests already waiting on its connection."""


class ClientProtocol(RequestHead, Refusals, asyncio.Protocol):
    __slots__ = (
        "server", "limits", "parser", "transport", "client_ip", "forwarded_for", "active", "queue",
        "parsing", "pause_mask", "write_paused", "closing", "last_io", "refusal", "in_head", "head_started",
        "head_pending", "url", "headers", "hmap", "hbytes", "nheaders", "content_length", "te",
        "conn_tokens", "host", "rid", "traceparent", "tracestate", "expect", "body_count", "counted",
        "chunk_open", "trailer_bytes", "kinds", "upgrade", "upgrade_rest", "head_limit",
    )

    def __init__(self, server: Frontend) -> None:
        self.server = server
        self.limits = limits = server.config.limits
        self.head_limit = limits.max_header_bytes + limits.max_start_line + _READ_SLACK  # bytes of an unfinished head
        # Routing and proxy-owned header names come from the routes and targets, which run-time state
        # changes (the only table swaps) keep: one lookup table per connection is enough.
        self.kinds = header_kinds(server.compiled)
        self.parser = httptools.HttpRequestParser(self)
        self.transport: asyncio.Transport = None  # type: ignore[assignment]
        self.client_ip = ""
        self.forwarded_for = b""  # this client's X-Forwarded-For and -Proto lines, built once per connection
        self.active: Exchange | None = None  # the exchange whose response is being produced
        self.queue: deque[Exchange] = deque()  # pipelined requests waiting their turn
        self.parsing: Exchange | None = None  # the exchange whose request body is being read
        self.pause_mask = 0
        self.write_paused = False
        self.closing = False
        self.last_io = 0.0  # loop time of the last read or finished response, for the keep-alive sweep
        self.head_started = 0.0  # loop time the current request head began arriving; 0 when none is
        self.refusal: bytes | None = None
        self.counted = False
        self.in_head = True
        self.head_pending = 0
        self.chunk_open = False  # between a chunk's size line and its end (the last one's: after the trailers)
        self.trailer_bytes = 0  # bytes read in the open chunk that were not body: the trailer section
        # After an upgrade request: what the client sent after its head, held until the answer (a 101
        # hands it to the tunnel, anything else parses it as the next request). None otherwise.
        self.upgrade_rest: bytes | None = None
        self._reset()

    def _reset(self) -> None:
        self.url = b""
        self.headers: list[bytes] = []  # "Name: value" lines to pass on
        self.hmap: dict[bytes, bytes] = {}
        self.hbytes = 0
        self.nheaders = 0
        self.content_length = -1
        self.te: bytes | None = None
        self.conn_tokens: list[bytes] | None = None
        self.host: bytes | None = None
        self.rid: bytes | None = None
        self.traceparent: bytes | None = None
        self.tracestate: bytes | None = None
        self.expect = False
        self.body_count = 0
        self.upgrade: bytes | None = None

    # -- asyncio.Protocol ---------------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        server = self.server
        if len(server.connections) >= self.limits.max_connections:
            server.metrics.refused[503] += 1
            self.closing = True
            transport.write(error_response(503, "too_many_connections", "connection limit reached",  # type: ignore[attr-defined]
                                           retry_after=1))
            transport.close()
            return
        peer = transport.get_extra_info("peername")
        self.client_ip = ip = peer[0] if isinstance(peer, tuple) else "unix"
        per_client = self.limits.max_connections_per_client
        if per_client:
            held = server.per_client.get(ip, 0)
            if held >= per_client:
                server.metrics.refused[429] += 1
                server.metrics.limited["client_connections"] += 1
                self.closing = True
                transport.write(error_response(  # type: ignore[attr-defined]
                    429, "too_many_connections_from_client", "connection limit per client address reached",
                    retry_after=LIMIT_RETRY_AFTER))
                transport.close()
                return
            server.per_client[ip] = held + 1
        server.connections.add(self)
        self.counted = True
        server.metrics.connections += 1
        self.forwarded_for = b"X-Forwarded-For: " + ip.encode() + b"\r\nX-Forwarded-Proto: http"
        self.last_io = server.loop.time()

    def connection_lost(self, exc: Exception | None) -> None:
        self.closing = True
        if self.counted:
            self.counted = False
            server = self.server
            server.connections.discard(self)
            server.metrics.connections -= 1
            held = server.per_client.get(self.client_ip, 0)
            if held > 1:
                server.per_client[self.client_ip] = held - 1
            elif held:
                del server.per_client[self.client_ip]
        if self.active is not None:
            self.active.cancel()
        self._drop_queue()

    def data_received(self, data: bytes) -> None:
        if self.closing or self.refusal is not None:
            return  # draining after a refusal, or shutting down
        if self.upgrade_rest is not None:  # reading pauses, but one read may already be on its way
            self._hold_early(data)
            return
        self.last_io = now = self.server.loop.time()
        if self.in_head and not self.head_started:
            self.head_started = now
        chunk_open = self.chunk_open
        if chunk_open:
            body_before = self.body_count
        try:
            self.parser.feed_data(data)
        except Refused as exc:  # raised outside parser callbacks
            self._refuse(exc.status, exc.code, str(exc), retry_after=exc.retry_after)
            return
        except httptools.HttpParserUpgrade as exc:
            # An upgrade request (strangler.proxy.upgrade): what follows is a tunnel's or the next
            # request's, depending on the answer; hold it and stop reading until then.
            self.parser = httptools.HttpRequestParser(self)
            self.in_head = True
            self._reset()
            self.upgrade_rest = b""
            self.pause(PAUSE_UPGRADE)
            self._hold_early(data[exc.args[0]:] if exc.args and isinstance(exc.args[0], int) else b"")
            return
        except httptools.HttpParserError as exc:
            cause = exc.__cause__ or exc.__context__
            if isinstance(cause, PipelineFull):
                self._refuse(503, "too_many_pipelined", str(cause), keep_queue=True)
            elif isinstance(cause, Refused):
                self._refuse(cause.status, cause.code, str(cause), retry_after=cause.retry_after)
            else:
                self._refuse(400, "bad_request", f"malformed request: {exc}")
            return
        if self.in_head:
            self.head_pending += len(data)
            if self.head_pending > self.head_limit:
                self._refuse(431, "headers_too_large", "request head too large")
        elif chunk_open and self.chunk_open and self.body_count == body_before:
            # A whole read inside an open chunk and no body byte: the last chunk's trailer section,
            # which the parser would grow in memory until it ends; bound it like the head.
            self.trailer_bytes += len(data)
            if self.trailer_bytes > self.limits.max_header_bytes:
                self._refuse(431, "headers_too_large", "request trailers too large")

    def _drop_queue(self) -> None:
        """Forget the pipelined requests: they never start, so a handshake among them gives its tunnel slot back."""
        for ex in self.queue:
            if ex.upgrade is not None:
                self.server.forwarding.tunnels.release(self.client_ip)
        self.queue.clear()

    def _hold_early(self, data: bytes) -> None:
        held = (self.upgrade_rest or b"") + data
        if len(held) > MAX_EARLY_TUNNEL_BYTES:
            self.upgrade_rest = None
            self.closing = True
            self.transport.abort()  # a client that will not wait for the handshake's answer
            return
        self.upgrade_rest = held

    def tunnel_started(self) -> bytes:
        """The connection is a tunnel from now on (strangler.proxy.tunnel): no more HTTP on it, and
        the sweep leaves it to the tunnel."""
        self.closing = True
        self.pause_mask = 0
        early, self.upgrade_rest = self.upgrade_rest or b"", None
        return early

    def pause_writing(self) -> None:
        self.write_paused = True
        if self.active is not None:
            self.active.client_paused_writing()

    def resume_writing(self) -> None:
        self.write_paused = False
        if self.active is not None:
            self.active.client_resumed_writing()

    def pause(self, reason: int) -> None:
        if not self.pause_mask and not self.closing:
            self.transport.pause_reading()
        self.pause_mask |= reason

    def resume(self, reason: int) -> None:
        if self.pause_mask & reason:
            self.pause_mask &= ~reason
            if not self.pause_mask and not self.closing:
                self.transport.resume_reading()

    def on_headers_complete(self) -> None:
        if self.active is not None and len(self.queue) >= self.limits.max_pipelined:
            # One read can hold thousands of pipelined requests: stop parsing here (the rest of the
            # read is dropped), answer those queued, then refuse this one and close.
            self.server.metrics.limited["pipelined"] += 1
            raise PipelineFull(f"more than {self.limits.max_pipelined} pipelined requests waiting")
        self.in_head = False  # RequestHead.on_headers_complete's work, without the extra call
        self.head_pending = 0
        self.head_started = 0.0
        self._start_exchange()

    def _run(self, ex: Exchange) -> None:
        self.active = ex
        ex.start()

    # -- request end ----------------------------------------------------------------------------------
    def exchange_done(self, ex: Exchange) -> None:
        if self.active is not ex:
            return
        self.active = None
        if ex.tunneled:
            return  # the connection is a tunnel's now
        if self.pause_mask:  # the usual case has nothing paused: skip the calls
            self.resume(PAUSE_BODY | PAUSE_UPSTREAM)  # whatever that exchange paused, it no longer needs
        if self.refusal is not None and not self.queue and not ex.must_close and not self.transport.is_closing():
            self._send_refusal()
            return
        if self.closing:
            return
        if ex.must_close or not ex.body_done or not ex.keep_alive:
            self.closing = True
            self.transport.close()
            return
        if self.queue:
            self._run(self.queue.popleft())
            if not self.queue and self.refusal is None:
                self.resume(PAUSE_PIPELINE)
        else:
            if self.pause_mask:
                self.resume(PAUSE_PIPELINE)
            self.last_io = self.server.loop.time()
        if ex.upgrade is not None and self.upgrade_rest is not None and self.active is None:
            # No 101: plain HTTP again, starting with what the client sent after the upgrade request.
            rest, self.upgrade_rest = self.upgrade_rest, None
            self.resume(PAUSE_UPGRADE)
            if rest:
                self.data_received(rest)

    def check(self, now: float) -> None:
        """Periodic sweep: upstream read timeouts of the active exchange, idle keep-alive expiry."""
        active = self.active
        if active is not None:
            active.check_timeout(now)
        if self.closing or self.refusal is not None:
            return
        if self.head_started and now - self.head_started > self.limits.header_timeout:
            self._refuse(408, "request_timeout", "request head not received in time")
        elif active is None and now - self.last_io > self.limits.keepalive_timeout:
            self.closing = True
            self.transport.close()
