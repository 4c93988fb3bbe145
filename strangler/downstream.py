"""The client-facing connection: HTTP/1.1 parsing, protocol hygiene, pipelining, refusals.

This is the security boundary: anything ambiguous about framing is refused with a JSON error
and the connection is closed, because two parsers disagreeing about where a request ends is
how requests get smuggled past a proxy.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from typing import TYPE_CHECKING
from urllib.parse import unquote

import httptools

from strangler import tracing
from strangler.exchange import BODY_CHUNKED, BODY_LENGTH, BODY_NONE, Exchange
from strangler.http1 import (
    connection_tokens,
    error_response,
    has_dot_segment,
    new_request_id,
    new_trace_ids,
    new_traceparent,
    valid_request_id,
    valid_traceparent,
)
from strangler.routing import RequestInfo, decide, override_value, verify_override

if TYPE_CHECKING:
    from strangler.server import ProxyServer

# Request headers that need more than "copy it": value is what on_header does with them.
_DROP, _CONNECTION, _TE, _CL, _HOST, _RID, _TRACEPARENT, _TRACESTATE, _OVERRIDE, _EXPECT = range(10)
_SPECIAL = {
    b"connection": _CONNECTION, b"keep-alive": _DROP, b"proxy-authenticate": _DROP,
    b"proxy-authorization": _DROP, b"te": _DROP, b"trailer": _DROP, b"upgrade": _DROP,
    b"proxy-connection": _DROP, b"transfer-encoding": _TE, b"content-length": _CL, b"host": _HOST,
    # The proxy is the edge: whatever a client claims about forwarding is replaced, not trusted.
    b"x-forwarded-for": _DROP, b"x-forwarded-proto": _DROP, b"x-forwarded-host": _DROP, b"forwarded": _DROP,
    b"x-request-id": _RID, b"traceparent": _TRACEPARENT, b"tracestate": _TRACESTATE,
    b"x-strangler-override": _OVERRIDE, b"expect": _EXPECT,
    # Only the proxy signs requests to services (strangler.credentials); a client's own is dropped.
    b"x-internal-credential": _DROP,
}
_PAUSE_PIPELINE, _PAUSE_BODY, _PAUSE_UPSTREAM = 1, 2, 4
_METHODS = {m.encode(): m for m in ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE")}
_READ_SLACK = 256 * 1024  # one socket read may hold the previous body's tail plus the next head


class Refused(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code


class ClientProtocol(asyncio.Protocol):
    __slots__ = (
        "server", "limits", "parser", "transport", "client_ip", "client_ip_b", "active", "queue",
        "parsing", "pause_mask", "write_paused", "closing", "last_io", "refusal", "in_head", "head_started",
        "head_pending", "url", "headers", "hmap", "hbytes", "nheaders", "content_length", "te",
        "conn_tokens", "host", "rid", "traceparent", "tracestate", "expect", "body_count", "counted",
    )

    def __init__(self, server: ProxyServer) -> None:
        self.server = server
        self.limits = server.config.limits
        self.parser = httptools.HttpRequestParser(self)
        self.transport: asyncio.Transport = None  # type: ignore[assignment]
        self.client_ip = ""
        self.client_ip_b = b""
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
        self._reset()

    def _reset(self) -> None:
        self.url = b""
        self.headers: list[tuple[bytes, bytes]] = []
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
        server.connections.add(self)
        self.counted = True
        server.metrics.connections += 1
        peer = transport.get_extra_info("peername")
        self.client_ip = peer[0] if isinstance(peer, tuple) else "unix"
        self.client_ip_b = self.client_ip.encode()
        self.last_io = server.loop.time()

    def connection_lost(self, exc: Exception | None) -> None:
        self.closing = True
        if self.counted:
            self.counted = False
            self.server.connections.discard(self)
            self.server.metrics.connections -= 1
        if self.active is not None:
            self.active.cancel()
        self.queue.clear()

    def data_received(self, data: bytes) -> None:
        if self.closing or self.refusal is not None:
            return  # draining after a refusal, or shutting down
        self.last_io = now = self.server.loop.time()
        if self.in_head and not self.head_started:
            self.head_started = now
        try:
            self.parser.feed_data(data)
        except Refused as exc:  # raised outside parser callbacks
            self._refuse(exc.status, exc.code, str(exc))
            return
        except httptools.HttpParserUpgrade as exc:
            # Upgrade is hop-by-hop and dropped: the request was served as plain HTTP; parse what follows.
            self.parser = httptools.HttpRequestParser(self)
            self.in_head = True
            rest = data[exc.args[0]:] if exc.args and isinstance(exc.args[0], int) else b""
            if rest:
                self.data_received(rest)
            return
        except httptools.HttpParserError as exc:
            cause = exc.__cause__ or exc.__context__
            if isinstance(cause, Refused):
                self._refuse(cause.status, cause.code, str(cause))
            else:
                self._refuse(400, "bad_request", f"malformed request: {exc}")
            return
        if self.in_head:
            self.head_pending += len(data)
            if self.head_pending > self.limits.max_header_bytes + self.limits.max_start_line + _READ_SLACK:
                self._refuse(431, "headers_too_large", "request head too large")

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

    # -- httptools callbacks ------------------------------------------------------------------------
    def on_url(self, url: bytes) -> None:
        self.url += url
        if len(self.url) > self.limits.max_start_line:
            raise Refused(431, "start_line_too_large", "request line too long")

    def on_header(self, name: bytes, value: bytes) -> None:
        self.nheaders += 1
        self.hbytes += len(name) + len(value) + 4
        limits = self.limits
        if self.nheaders > limits.max_headers:
            raise Refused(431, "too_many_headers", f"more than {limits.max_headers} header fields")
        if self.hbytes > limits.max_header_bytes:
            raise Refused(431, "headers_too_large", f"header fields exceed {limits.max_header_bytes} bytes")
        lname = name.lower()
        kind = _SPECIAL.get(lname)
        if kind is None:
            if b"_" in name:
                return  # X-Forwarded_For would reach a WSGI app as HTTP_X_FORWARDED_FOR: drop, like nginx
            self.headers.append((name, value))
            self.hmap[lname] = value
        elif kind == _DROP:
            pass
        elif kind == _CONNECTION:
            self.conn_tokens = (self.conn_tokens or []) + connection_tokens(value)
        elif kind == _TE:
            self.te = value if self.te is None else self.te + b"," + value
        elif kind == _CL:
            if self.content_length != -1:
                raise Refused(400, "bad_content_length", "duplicate Content-Length")
            if not value.isdigit() or len(value) > 18:
                raise Refused(400, "bad_content_length", "invalid Content-Length")
            self.content_length = int(value)
        elif kind == _HOST:
            if self.host is not None:
                raise Refused(400, "bad_host", "duplicate Host")
            self.host = value
            self.headers.append((name, value))
            self.hmap[lname] = value
        elif kind == _RID:
            self.rid = value
        elif kind == _TRACEPARENT:
            self.traceparent = value
        elif kind == _TRACESTATE:
            self.tracestate = value
        elif kind == _OVERRIDE:
            self.hmap[lname] = value  # decides the route; never forwarded
        else:  # _EXPECT
            self.expect = value.lower() == b"100-continue"
            self.headers.append((name, value))

    def on_headers_complete(self) -> None:
        self.in_head = False
        self.head_pending = 0
        self.head_started = 0.0
        self._start_exchange()  # a refusal raises and leaves the request's fields for the log line
        self._reset()

    def on_body(self, body: bytes) -> None:
        self.body_count += len(body)
        if self.body_count > self.limits.max_body_bytes:
            raise Refused(413, "body_too_large", f"request body exceeds {self.limits.max_body_bytes} bytes")
        ex = self.parsing
        if ex is not None:
            ex.body_received(body)

    def on_message_complete(self) -> None:
        self.in_head = True
        ex, self.parsing = self.parsing, None
        self.body_count = 0
        if ex is not None:
            ex.body_complete()

    # -- request start --------------------------------------------------------------------------------
    def _start_exchange(self) -> None:
        parser = self.parser
        limits = self.limits
        method_b = parser.get_method()
        keep_alive = parser.should_keep_alive()
        tokens = self.conn_tokens
        if keep_alive and not (tokens and b"keep-alive" in tokens):
            version_10 = False  # only HTTP/1.1+ keeps alive without asking: skip the costly version getter
        else:
            version = parser.get_http_version()
            if version != "1.1" and version != "1.0":
                raise Refused(505, "http_version_not_supported", f"HTTP/{version} is not supported")
            version_10 = version == "1.0"
        url = self.url
        te = self.te
        if te is not None:
            if self.content_length != -1:
                raise Refused(400, "ambiguous_framing", "both Content-Length and Transfer-Encoding")
            if te.strip().lower() != b"chunked" or version_10:
                raise Refused(400, "bad_transfer_encoding", "only 'Transfer-Encoding: chunked' is accepted")
            body_mode = BODY_CHUNKED
        elif self.content_length > 0:
            body_mode = BODY_LENGTH
            if self.content_length > limits.max_body_bytes:
                raise Refused(413, "body_too_large", f"request body exceeds {limits.max_body_bytes} bytes")
        else:
            body_mode = BODY_NONE
        if body_mode != BODY_NONE and parser.should_upgrade():
            # The parser would treat the body as the upgraded protocol: refuse rather than guess.
            raise Refused(400, "upgrade_with_body", "Upgrade requests with a body are not supported")
        if method_b == b"CONNECT":
            raise Refused(405, "method_not_allowed", "CONNECT is not supported")
        if not url.startswith(b"/"):
            if not (url == b"*" and method_b == b"OPTIONS"):
                raise Refused(400, "bad_target", "only origin-form request targets are accepted")
        if (b"/." in url or b"%" in url) and has_dot_segment(url):
            raise Refused(400, "bad_path", "dot segments are not allowed in the path")
        if self.host is None and not version_10:
            raise Refused(400, "missing_host", "HTTP/1.1 requests need a Host header")
        headers = self.headers
        hmap = self.hmap
        if self.conn_tokens:
            drop = {t for t in self.conn_tokens if t not in (b"close", b"keep-alive")}
            if drop:
                headers = [(n, v) for n, v in headers if n.lower() not in drop]
                for name in drop:
                    hmap.pop(name, None)

        server = self.server
        method = _METHODS.get(method_b) or method_b.decode("ascii")
        q = url.find(b"?")
        path = (url if q < 0 else url[:q]).decode("latin-1")
        if "%" in path:
            path = unquote(path)  # match what the upstream will see: /api/v1/%70ayments is /api/v1/payments
        route = server.compiled.match(method, path, hmap)
        override = None
        if server.override_secret is not None and route.service is not None:
            token = override_value(hmap)
            if token:
                override = verify_override(server.override_secret, token, route.name, time.time())
        decision = decide(route, RequestInfo(method, hmap, self.client_ip), override)

        rid = self.rid
        if rid is not None and not valid_request_id(rid):
            rid = None
        tp = self.traceparent
        tracestate = self.tracestate
        tracer = tracing.TRACER
        if tracer is not None:  # the proxy's span: its id goes upstream (strangler.tracing)
            span, tp, tracestate, rid = tracer.begin(decision, method, path, tp, tracestate, rid)
        elif tp is None or not valid_traceparent(tp):
            tracestate = None
            if rid is None:
                tp, rid = new_trace_ids()
            else:
                tp = new_traceparent()
        elif rid is None:
            rid = new_request_id()
        lines = [method_b + b" " + url + b" HTTP/1.1"]
        lines += [n + b": " + v for n, v in headers]
        lines.append(b"X-Forwarded-For: " + self.client_ip_b)
        lines.append(b"X-Forwarded-Proto: http")
        if self.host is not None:
            lines.append(b"X-Forwarded-Host: " + self.host)
        lines.append(b"X-Request-ID: " + rid)
        lines.append(b"traceparent: " + tp)
        if tracestate is not None:
            lines.append(b"tracestate: " + tracestate)
        lines.append(b"")
        keep_alive = keep_alive and not server.closing
        ex = Exchange(
            server, self, decision, method, method_b, url, b"\r\n".join(lines),
            has_host=self.host is not None, version_10=version_10, keep_alive=keep_alive,
            request_id=rid, expect=self.expect, body_mode=body_mode,
            content_length=self.content_length if body_mode == BODY_LENGTH else 0,
        )
        if tracer is not None:
            ex.span = span
        if body_mode != BODY_NONE:
            self.parsing = ex
        if self.active is None:
            self._run(ex)
        else:
            self.queue.append(ex)
            self.pause(_PAUSE_PIPELINE)

    def _run(self, ex: Exchange) -> None:
        self.active = ex
        ex.start()

    # -- request end ----------------------------------------------------------------------------------
    def exchange_done(self, ex: Exchange) -> None:
        if self.active is not ex:
            return
        self.active = None
        self.resume(_PAUSE_BODY | _PAUSE_UPSTREAM)  # whatever that exchange paused, it no longer needs
        if self.refusal is not None and not ex.must_close and not self.transport.is_closing():
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
            if not self.queue:
                self.resume(_PAUSE_PIPELINE)
        else:
            self.resume(_PAUSE_PIPELINE)
            self.last_io = self.server.loop.time()

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

    def _refuse(self, status: int, code: str, message: str) -> None:
        """Answer a protocol violation and close; after any response still being produced."""
        server = self.server
        server.metrics.refused[status] += 1
        if server.access_log.enabled:
            method = self.parser.get_method() if self.url else b"-"
            server.access_log.write(b"-", method.decode("latin-1"), self.url[:512], "-", "-", "-", status, 0.0,
                                    0, False, code)
        self.refusal = error_response(status, code, message, close=True)
        self.queue.clear()
        parsing, self.parsing = self.parsing, None
        active = self.active
        if active is not None and parsing is active:  # the exchange being served sent the broken request
            if active.resp_started:  # its answer is under way: no clean way to say more than a reset
                self.closing = True
                self.refusal = None
                active.cancel()
                self.transport.abort()
                return
            self.active = None  # detached first, so its end does not look like a finished exchange
            active.cancel()
        self.pause(_PAUSE_PIPELINE)
        if self.active is None:
            self._send_refusal()
        # else: parsing has stopped; the refusal goes out when the active response ends

    def _send_refusal(self) -> None:
        refusal, self.refusal = self.refusal, None
        self.closing = True
        transport = self.transport
        if refusal is not None:
            transport.write(refusal)
        # Half-close and linger so the client reads the error instead of a reset from unread input.
        if transport.can_write_eof():
            transport.write_eof()
            transport.resume_reading()
            self.server.loop.call_later(2.0, transport.close)
        else:
            transport.close()


