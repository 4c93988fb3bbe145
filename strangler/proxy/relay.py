"""ResponseRelay: the half of an exchange that relays the upstream's answer to the client.

The upstream parser calls these (strangler.proxy.upstream's ResponseSink): the head is held back
to go out with the first body bytes, bodies are written straight to the client transport, a slow
client pauses the upstream's reads. For a mirrored request the answer is also kept for comparison,
charged to the shadow byte budget (strangler.proxy.shadow); past it the mirror is given up. The state lives in strangler.proxy.exchange.Exchange, which
is the only class built on this one.
"""

from __future__ import annotations

from strangler.proxy.diff import MAX_BODY as SHADOW_CAPTURE  # the primary's answer is kept for comparison
from strangler.proxy.http1 import LAST_CHUNK, STATUS_LINES, chunk_header, status_line
from strangler.proxy.tunnel import Tunnel
from strangler.proxy.types import MONOLITH, PAUSE_UPSTREAM, Side
from strangler.proxy.upstream import UpstreamConnection, UpstreamError

REROUTE_STATUS = frozenset({502, 503, 504})  # an upstream saying "not me, not now": safe to try elsewhere
# A 503 with Retry-After is an answer, not a failure, for the target's breaker: the upstream is up and
# says when to come back (a dependency of it is down, a handover's fence). Counted as failures, one
# endpoint's 503s opened the breaker of the whole monolith for every request.
UNAVAILABLE = 503
_RETRY_AFTER = b"retry-after"
_CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"
_COALESCE_BELOW = 16384  # a response head and a first body chunk smaller than this go out in one write
# Content-Type values as upstreams send them -> media type: upstreams repeat a handful of values.
_MEDIA_TYPES: dict[bytes, str] = {}
_MEDIA_TYPES_KEPT = 256  # past this many distinct values, new ones are parsed each time


class ResponseRelay:
    __slots__ = ()

    def up_interim(self, status: int) -> None:
        if not self.version_10 and not self.resp_started and (status != 100 or self.expect):
            self.client.transport.write(_CONTINUE if status == 100 else status_line(status) + b"\r\n")

    def up_head(self, status: int, headers: list[tuple[bytes, bytes]], conn: UpstreamConnection) -> None:
        answered = status == UNAVAILABLE and any(name.lower() == _RETRY_AFTER for name, _ in headers)
        if self.reroute and status in REROUTE_STATUS:
            self.resp_status = status
            if answered:
                self._settle(None, answered=True)
            self._abort_upstream()
            self._resolve(UpstreamError("status", f"{self.target} answered {status}"))
            return
        self.resp_status = status
        self.resp_started = True
        self._settle(None, answered=answered)  # the status decides; settle before the client can see the answer
        client = self.client
        close = not self.keep_alive or client.closing
        lines = [STATUS_LINES.get(status) or status_line(status)]
        for name, value in headers:
            lines += (name, b": ", value, b"\r\n")
        if not conn.has_length:
            if self.version_10:
                close = True
            else:
                self.resp_chunked = True
                lines.append(b"Transfer-Encoding: chunked\r\n")
        if not conn.has_request_id:
            lines += (b"X-Request-ID: ", self.request_id, b"\r\n")
        if close:
            self.must_close = True
            lines.append(b"Connection: close\r\n")
        elif self.version_10:
            lines.append(b"Connection: keep-alive\r\n")
        lines.append(b"\r\n")
        self.out_head = b"".join(lines)
        ctype = conn.content_type
        if ctype is not None and self.resp_deadline:
            media = _MEDIA_TYPES.get(ctype)
            if media is None:
                media = ctype.partition(b";")[0].strip().lower().decode("latin-1")
                if len(_MEDIA_TYPES) < _MEDIA_TYPES_KEPT:
                    _MEDIA_TYPES[ctype] = media
            if media in self.decision.route.deadlines.stream_types:
                self.resp_deadline = 0.0  # a stream: only the read timeout, between chunks (strangler.proxy.deadlines)
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
        elif len(data) < _COALESCE_BELOW:
            self.client.transport.write(head + data)
        else:
            self.client.transport.writelines((head, data))
        capture = self.capture
        if capture is not None and self.cap_bytes <= SHADOW_CAPTURE:
            n = len(data)
            if self.fwd.shadow.hold(n):
                self.shadow_held += n
                capture.append(data)
                self.cap_bytes += n
            else:
                self.lose_mirror(over_budget=True)

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
            if self.body_done and conn.done and conn.keep_alive and not conn.closed:  # conn.reusable()
                transport = conn.transport
                if not transport.is_reading():  # type: ignore[union-attr]
                    transport.resume_reading()  # type: ignore[union-attr]  # paused for a slow client
                if conn.feeding:  # pool.release's first step: the rest of the read decides (upstream.data_received)
                    conn.parked = True
                else:
                    conn.pool.release(conn)
            else:
                conn.abort()
        self._resolve(None)

    def up_upgrade(self, headers: list[tuple[bytes, bytes]], protocol: bytes,
                   conn: UpstreamConnection) -> Tunnel | None:
        """A 101: pass it on with the Upgrade and Connection the handshake needs, and build the
        tunnel that takes both connections (strangler.proxy.tunnel)."""
        self.upstream = None
        client = self.client
        if self.gone or client.transport.is_closing():
            conn.abort()
            self._resolve(None)  # the upstream did its part; nobody is left to tunnel for
            return None
        self.resp_status = 101
        self.resp_started = self.resp_done = self.tunneled = True
        self.deadline = self.resp_deadline = 0.0
        self._settle(None)
        lines = [status_line(101)]
        lines += [n + b": " + v + b"\r\n" for n, v in headers]
        lines.append(b"Upgrade: " + protocol + b"\r\nConnection: upgrade\r\n")
        if not conn.has_request_id:
            lines.append(b"X-Request-ID: " + self.request_id + b"\r\n")
        lines.append(b"\r\n")
        client.transport.write(b"".join(lines))
        side = Side.MONOLITH if self.target == MONOLITH else Side.SERVICE
        tunnels = self.fwd.tunnels
        tunnel = Tunnel(tunnels, client, conn.transport, self.decision.route, side, self.target,  # type: ignore[arg-type]
                        self.request_id, client.client_ip, bucket=self.cohort, pinned=self.pinned,
                        websocket=protocol.strip().lower() == b"websocket")
        tunnels.opened(tunnel)
        self._resolve(None)
        return tunnel

    def up_lost(self, error: UpstreamError) -> None:
        self.upstream = None
        self._resolve(error)

    def up_pause_writing(self) -> None:
        self.client.pause(PAUSE_UPSTREAM)

    def up_resume_writing(self) -> None:
        self.client.resume(PAUSE_UPSTREAM)

    # -- the copies kept for a mirror ------------------------------------------------------------------
    def hold_for_mirror(self, n: int) -> None:
        """Charge `n` request body bytes kept for the mirror; past the budget, there is no mirror."""
        if self.fwd.shadow.hold(n):
            self.shadow_held += n
        else:
            self.lose_mirror(over_budget=True)

    def lose_mirror(self, *, over_budget: bool) -> None:
        """No mirror for this request after all: stop keeping copies for it and give their bytes back."""
        shadow = self.fwd.shadow
        self.capture = None
        self.retain_limit = self.fwd.retry_buffer_bytes
        held, self.shadow_held = self.shadow_held, 0
        if held:
            shadow.release(held)
        if over_budget:
            shadow.over_budget(self.decision.route)
        else:
            shadow.drop(self.decision.route)

    # -- client side events -------------------------------------------------------------------------
    def client_paused_writing(self) -> None:
        up = self.upstream
        if up is not None and self.resp_started:
            up.transport.pause_reading()  # type: ignore[union-attr]

    def client_resumed_writing(self) -> None:
        up = self.upstream
        if up is not None and self.resp_started:
            up.transport.resume_reading()  # type: ignore[union-attr]
