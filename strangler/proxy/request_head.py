"""RequestHead: the httptools callbacks of a client connection, from the request line to the
exchange that serves it.

Each header is sorted as it arrives (hop-by-hop and forwarding headers dropped, framing headers
checked); when the head is complete the framing is validated, the route decided and an Exchange
started. Anything ambiguous raises Refused, which the connection (strangler.proxy.downstream)
answers with a JSON error before closing: two parsers disagreeing about where a request ends is
how requests get smuggled past a proxy.
"""

from __future__ import annotations

import time
from urllib.parse import unquote

from strangler.proxy import tracing
from strangler.proxy.exchange import BODY_CHUNKED, BODY_LENGTH, BODY_NONE, Exchange
from strangler.proxy.http1 import (
    connection_tokens,
    new_request_id,
    new_trace_ids,
    new_traceparent,
    valid_request_id,
    valid_traceparent,
)
from strangler.proxy.paths import path_problem, text_needs_check
from strangler.proxy.request_headers import (
    CL,
    CONNECTION,
    COOKIE,
    COOKIE_SINGLE,
    DROP,
    HOST,
    OVERRIDE,
    OVERRIDE_COOKIE_BYTES,
    RID,
    SINGLE,
    TE,
    TRACEPARENT,
    TRACESTATE,
    UPGRADE,
    without_override_cookie,
)
from strangler.proxy.routing import (
    RequestInfo,
    cohort_bucket,
    cohort_key,
    decide,
    override_value,
    verify_override,
)
from strangler.proxy.types import PAUSE_PIPELINE
from strangler.proxy.upgrade import upgrade_refusal

_METHODS = {m.encode(): m for m in ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE")}
MAX_CONTENT_LENGTH_DIGITS = 18  # a longer Content-Length is refused before int() sees it
UPGRADE_RETRY_AFTER = 1  # seconds a handshake turned away by the tunnel caps is told to wait


class Refused(Exception):
    def __init__(self, status: int, code: str, message: str, retry_after: int | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.retry_after = retry_after


class RequestHead:
    """The parser-facing half of ClientProtocol (strangler.proxy.downstream), which holds the state."""

    __slots__ = ()

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
        kind = self.kinds.get(lname)
        if kind is None:
            if name.find(b"_") >= 0:  # not `in`: see strangler.proxy.paths.needs_check
                return  # X-Forwarded_For would reach a WSGI app as HTTP_X_FORWARDED_FOR: drop, like nginx
            self.headers.append(name + b": " + value)
            self.hmap[lname] = value
        elif kind == HOST:
            if self.host is not None:
                raise Refused(400, "bad_host", "duplicate Host")
            self.host = value
            self.headers.append(name + b": " + value)
            self.hmap[lname] = value
        elif kind == SINGLE:  # routing reads it: two copies would be routed on one, seen joined upstream
            if lname in self.hmap:
                raise Refused(400, "duplicate_header", f"duplicate {lname.decode('latin-1')} header (it decides routing)")
            # (a name with "_" has kind DROP: strangler.proxy.request_headers.header_kinds)
            self.headers.append(name + b": " + value)
            self.hmap[lname] = value
        elif kind >= COOKIE:
            if kind == COOKIE_SINGLE and lname in self.hmap:
                raise Refused(400, "duplicate_header", "duplicate cookie header (it decides routing)")
            self.hmap[lname] = value  # routing and the override read the cookies as sent
            if value.find(OVERRIDE_COOKIE_BYTES) >= 0:  # the proxy's own: never passed on
                value = without_override_cookie(value)
                if not value:
                    return
            self.headers.append(name + b": " + value)
        elif kind == DROP:
            pass
        elif kind == UPGRADE:  # hop-by-hop: sent on only for an upgrade the route allows (_start_exchange)
            self.upgrade = value if self.upgrade is None else self.upgrade + b"," + value
        elif kind == CONNECTION:
            self.conn_tokens = (self.conn_tokens or []) + connection_tokens(value)
        elif kind == TE:
            self.te = value if self.te is None else self.te + b"," + value
        elif kind == CL:
            if self.content_length != -1:
                raise Refused(400, "bad_content_length", "duplicate Content-Length")
            if not value.isdigit() or len(value) > MAX_CONTENT_LENGTH_DIGITS:
                raise Refused(400, "bad_content_length", "invalid Content-Length")
            self.content_length = int(value)
        elif kind == RID:
            self.rid = value
        elif kind == TRACEPARENT:
            self.traceparent = value
        elif kind == TRACESTATE:
            self.tracestate = value
        elif kind == OVERRIDE:
            if lname in self.hmap:
                raise Refused(400, "duplicate_header", "duplicate x-strangler-override header")
            self.hmap[lname] = value  # decides the route; read by the proxy only, never forwarded
        else:  # EXPECT
            self.expect = value.lower() == b"100-continue"
            self.headers.append(name + b": " + value)

    def on_headers_complete(self) -> None:
        self.in_head = False
        self.head_pending = 0
        self.head_started = 0.0
        self._start_exchange()  # a refusal raises and leaves the request's fields for the log line
        # No reset here: trailer fields (chunked requests) land in this request's state, whose head
        # has already gone upstream, count against the same header limits, and go at message end.

    def on_chunk_header(self) -> None:
        self.chunk_open = True  # until on_chunk_complete; for the last chunk that spans the trailers
        self.trailer_bytes = 0

    def on_chunk_complete(self) -> None:
        self.chunk_open = False

    def on_body(self, body: bytes) -> None:
        self.body_count += len(body)
        if self.body_count > self.limits.max_body_bytes:
            raise Refused(413, "body_too_large", f"request body exceeds {self.limits.max_body_bytes} bytes")
        ex = self.parsing
        if ex is not None:
            ex.body_received(body)

    def on_message_complete(self) -> None:
        self.in_head = True
        self.chunk_open = False
        ex, self.parsing = self.parsing, None
        self._reset()  # trailers included: nothing of this message's head may reach the next one
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
        path = url.decode("latin-1")  # one character per byte: str searches, without bytes.find's costs
        if "?" in path:
            path = path.partition("?")[0]
        if text_needs_check(path):
            problem = path_problem(url[:len(path)])  # the request target up to its query, as bytes
            if problem is not None:
                raise Refused(400, "bad_path", problem)
        if self.host is None and not version_10:
            raise Refused(400, "missing_host", "HTTP/1.1 requests need a Host header")
        headers = self.headers  # "Name: value" lines, as received (on_header)
        hmap = self.hmap
        if self.conn_tokens:
            drop = {t for t in self.conn_tokens if t not in (b"close", b"keep-alive")}
            if drop:  # a field name never holds ":", so the line's first one ends it
                headers = [h for h in headers if h[:h.index(b":")].lower() not in drop]
                for name in drop:
                    hmap.pop(name, None)

        server = self.server
        method = _METHODS.get(method_b) or method_b.decode("ascii")
        if "%" in path:
            path = unquote(path)  # match what the upstream will see: /api/v1/%70ayments is /api/v1/payments
        compiled = server.compiled
        route = compiled.match(method, path, hmap)
        override = None
        if server.override_secret is not None and route.service is not None:
            token = override_value(hmap)
            if token:
                override = verify_override(server.override_secret, token, route.name, time.time())
        if override is None:
            decision = compiled.decide(route, method, hmap, self.client_ip)  # the route's plan: routing.decide
        else:
            decision = decide(route, RequestInfo(method, hmap, self.client_ip), override)
        upgrade = None
        cohort = 0
        if parser.should_upgrade():  # Upgrade plus "Connection: upgrade": a tunnel if the route allows it
            upgrade = self.upgrade or b""
            problem = upgrade_refusal(upgrade, route.tunnel)
            if problem is not None:
                raise Refused(*problem)
            cohort = cohort_bucket(cohort_key(route, RequestInfo(method, hmap, self.client_ip)))
            # Counted last: nothing after this refuses, so a refused handshake never holds a slot.
            limit = server.forwarding.tunnels.reserve(self.client_ip)
            if limit is not None:
                raise Refused(503, "too_many_tunnels", "tunnel limit reached" if limit == "tunnels" else
                              "tunnel limit per client address reached", retry_after=UPGRADE_RETRY_AFTER)

        rid = self.rid
        if rid is not None and not valid_request_id(rid):
            rid = None
        tp = self.traceparent
        tracestate = self.tracestate
        tracer = tracing.TRACER
        if tracer is not None:  # the proxy's span: its id goes upstream (strangler.proxy.tracing)
            span, tp, tracestate, rid = tracer.begin(decision, method, path, tp, tracestate, rid)
        elif tp is None or not valid_traceparent(tp):
            tracestate = None
            if rid is None:
                tp, rid = new_trace_ids()
            else:
                tp = new_traceparent()
        elif rid is None:
            rid = new_request_id()
        lines = [method_b + b" " + url + b" HTTP/1.1", *headers, self.forwarded_for]
        if self.host is not None:
            lines.append(b"X-Forwarded-Host: " + self.host)
        lines.append(b"X-Request-ID: " + rid + b"\r\ntraceparent: " + tp)
        if tracestate is not None:
            lines.append(b"tracestate: " + tracestate)
        if upgrade is not None:
            lines.append(b"Upgrade: " + upgrade.strip() + b"\r\nConnection: upgrade")
        lines.append(b"")
        keep_alive = keep_alive and not server.closing
        ex = Exchange(  # positionally: keyword arguments to a class call cost a dict per request
            server.forwarding, self, decision, method, method_b, url, b"\r\n".join(lines),
            self.host is not None,  # has_host
            version_10, keep_alive, rid, self.expect, body_mode,
            self.content_length if body_mode == BODY_LENGTH else 0,  # content_length
            b"idempotency-key" in hmap,  # idempotency_key
            upgrade, cohort,
        )
        if tracer is not None:
            ex.span = span
        if body_mode != BODY_NONE:
            self.parsing = ex
        if self.active is None:
            self.active = ex  # ClientProtocol._run, inlined
            ex.start()
        else:
            self.queue.append(ex)
            self.pause(PAUSE_PIPELINE)
