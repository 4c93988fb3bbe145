"""Tunnel: a client connection and an upstream connection joined after a 101 Switching Protocols.

From the 101 on, the proxy no longer parses HTTP on either connection: both transports are handed
to the two ends of a Tunnel (``transport.set_protocol``) and bytes are written through as they
arrive. A side whose peer is slow stops being read (pause_reading while the peer's write buffer
is above TUNNEL_HIGH_WATER, resumed below TUNNEL_LOW_WATER), so a tunnel holds at most a few
hundred KiB whatever the traffic. Of a WebSocket, only frame headers are read
(strangler.proxy.upgrade.FrameCursor): the upstream's, so that a close frame the proxy sends goes
out between two frames; the client's until its first close frame, to tell who began closing and
to tell the upstream, between two of the client's frames, that its client went away.

The tunnel's own clocks (idle timeout, maximum lifetime, a close taking too long) are checked by
the server's periodic sweep through strangler.proxy.tunnels.Tunnels, which holds every open one.
"""

from __future__ import annotations

import asyncio
import os
from typing import TYPE_CHECKING

from strangler.proxy.upgrade import (
    CLOSE_GOING_AWAY,
    CLOSE_SERVICE_RESTART,
    Closer,
    FrameCursor,
    close_frame,
    expiry,
    masked_close_frame,
)

if TYPE_CHECKING:
    from strangler.proxy.types import ClientSink, Route, Side, TunnelKeeper

TUNNEL_HIGH_WATER = 256 * 1024  # bytes buffered for a slow peer before the other side stops being read
TUNNEL_LOW_WATER = 64 * 1024  # ...and resumed below this
CLOSE_LINGER = 5.0  # seconds a closing tunnel (half-closed, or waiting for a frame to end) may take


class _ClientEnd(asyncio.Protocol):
    __slots__ = ("tunnel",)

    def __init__(self, tunnel: Tunnel) -> None:
        self.tunnel = tunnel

    def data_received(self, data: bytes) -> None:
        self.tunnel.from_client(data)

    def eof_received(self) -> bool:
        return self.tunnel.eof(upstream=False)

    def connection_lost(self, exc: Exception | None) -> None:
        self.tunnel.lost(upstream=False, exc=exc)

    def pause_writing(self) -> None:  # the client reads slowly: stop reading the upstream
        self.tunnel.upstream_t.pause_reading()

    def resume_writing(self) -> None:  # also while closing: the upstream's close, or the frame a drain waits for
        self.tunnel.upstream_t.resume_reading()


class _UpstreamEnd(asyncio.Protocol):
    __slots__ = ("tunnel",)

    def __init__(self, tunnel: Tunnel) -> None:
        self.tunnel = tunnel

    def data_received(self, data: bytes) -> None:
        self.tunnel.from_upstream(data)

    def eof_received(self) -> bool:
        return self.tunnel.eof(upstream=True)

    def connection_lost(self, exc: Exception | None) -> None:
        self.tunnel.lost(upstream=True, exc=exc)

    def pause_writing(self) -> None:  # the upstream reads slowly: stop reading the client
        self.tunnel.client_t.pause_reading()

    def resume_writing(self) -> None:
        if not self.tunnel.close_code:  # a drain stopped reading the client for good
            self.tunnel.client_t.resume_reading()


class Tunnel:
    __slots__ = (
        "tunnels", "client", "client_t", "upstream_t", "route", "side", "target", "request_id", "client_ip",
        "bucket", "pinned", "opened", "last_active", "seen", "up", "down", "counted_up", "counted_down", "cursor",
        "client_cursor",
        "closer", "closing", "close_code", "closing_since", "client_gone", "upstream_gone", "eofs", "ended",
    )

    def __init__(self, tunnels: TunnelKeeper, client: ClientSink, upstream_t: asyncio.Transport, route: Route,
                 side: Side, target: str, request_id: bytes, client_ip: str, *, bucket: int, pinned: bool,
                 websocket: bool) -> None:
        self.tunnels = tunnels
        self.client = client
        self.client_t = client.transport
        self.upstream_t = upstream_t
        self.route = route
        self.side = side
        self.target = target
        self.request_id = request_id
        self.client_ip = client_ip
        self.bucket = bucket  # the client's canary cohort bucket, to tell whether a flip moved it
        self.pinned = pinned  # opened by a signed override: a flip does not drain it
        self.opened = self.last_active = tunnels.loop.time()
        self.seen = 0  # up + down at the last sweep
        self.up = self.down = 0  # bytes client -> upstream, upstream -> client
        self.counted_up = self.counted_down = 0  # ...already added to the metrics
        self.cursor = FrameCursor() if websocket else None  # what the upstream sends
        self.client_cursor = FrameCursor() if websocket else None  # what the client sends: who closes first
        self.closer: Closer | None = None
        self.closing = False
        self.close_code = 0  # close frame owed to the client once the upstream's current frame ends
        self.closing_since = 0.0
        self.client_gone = self.upstream_gone = False
        self.eofs = 0
        self.ended = False

    def start(self, upstream_rest: bytes) -> None:
        """Take both transports; `upstream_rest`: what the upstream sent after its 101 in the same read."""
        early = self.client.tunnel_started()  # what the client sent after its request head
        client_end, upstream_end = _ClientEnd(self), _UpstreamEnd(self)
        for transport in (self.client_t, self.upstream_t):
            transport.set_write_buffer_limits(high=TUNNEL_HIGH_WATER, low=TUNNEL_LOW_WATER)
        self.client_t.set_protocol(client_end)
        self.upstream_t.set_protocol(upstream_end)
        if early:
            self.from_client(early)
        if upstream_rest:
            self.from_upstream(upstream_rest)
        if self.client_t.get_write_buffer_size() <= TUNNEL_HIGH_WATER:
            self.upstream_t.resume_reading()
        self.client_t.resume_reading()

    # -- bytes ---------------------------------------------------------------------------------
    def from_client(self, data: bytes) -> None:
        self.up += len(data)
        cursor = self.client_cursor
        if cursor is not None and not cursor.saw_close:
            cursor.feed(data)
            if cursor.saw_close and self.closer is None:
                self.closer = Closer.CLIENT  # the client began the closing handshake
        self.upstream_t.write(data)

    def from_upstream(self, data: bytes) -> None:
        self.down += len(data)
        cursor = self.cursor
        if cursor is None:
            self.client_t.write(data)
        elif self.close_code:  # a close frame is owed: pass the rest of the current frame, then send it
            n = cursor.feed(data, stop_at_boundary=True)
            if n:
                self.client_t.write(data[:n] if n < len(data) else data)
            if cursor.at_boundary:
                self._send_close()
        else:
            cursor.feed(data)
            if cursor.saw_close and self.closer is None:
                self.closer = Closer.UPSTREAM  # the upstream began the closing handshake
            self.client_t.write(data)

    # -- ends ----------------------------------------------------------------------------------
    def eof(self, *, upstream: bool) -> bool:
        """One side half-closed: pass the half-close on; the tunnel ends when both sides did."""
        if self.closer is None:
            self.closer = Closer.UPSTREAM if upstream else Closer.CLIENT
        self.eofs += 1
        other = self.client_t if upstream else self.upstream_t
        if self.eofs >= 2 or not other.can_write_eof():
            self._close_both()
            return False
        other.write_eof()
        self._begin_closing()
        return True

    def lost(self, *, upstream: bool, exc: Exception | None) -> None:
        if self.closer is None:
            self.closer = Closer.UPSTREAM if upstream else Closer.CLIENT
        if upstream:
            self.upstream_gone = True
        else:
            self.client_gone = True
            self.client.connection_lost(exc)  # the client connection's own bookkeeping (limits, gauges)
        self._close_both()
        self._end()

    def close(self, closer: Closer, code: int = 0) -> None:
        """The proxy ends the tunnel: with a WebSocket close frame `code` to the client when given."""
        if self.closing and self.close_code == 0 and self.closer is not None:
            return
        self.closer = closer
        cursor = self.cursor
        if code and cursor is not None and not self.client_gone:
            self.close_code = code
            self.client_t.pause_reading()  # nothing more goes upstream
            self._begin_closing()
            if cursor.at_boundary:
                self._send_close()
            return  # else: sent by from_upstream when the current frame ends, or given up by the sweep
        self._close_both()

    def _send_close(self) -> None:
        code, self.close_code = self.close_code, 0
        self.client_t.write(close_frame(code, "proxy: reconnect" if code == CLOSE_SERVICE_RESTART else "proxy"))
        # The upstream is told too, between two of the client's frames (the client is no longer read):
        # its client went away. Mid-frame, a frame cannot be put in: the upstream sees the connection end.
        client = self.client_cursor
        if client is not None and client.at_boundary and not client.saw_close and not self.upstream_gone:
            self.upstream_t.write(masked_close_frame(CLOSE_GOING_AWAY, "proxy: client moved", os.urandom(4)))
        self._close_both()

    def _begin_closing(self) -> None:
        if not self.closing:
            self.closing = True
            self.closing_since = self.tunnels.loop.time()

    def _close_both(self) -> None:
        self._begin_closing()
        self.close_code = 0
        for transport in (self.client_t, self.upstream_t):
            if not transport.is_closing():
                transport.close()  # flushes what is buffered; the sweep aborts it after CLOSE_LINGER

    def _end(self) -> None:
        if not self.ended:
            self.ended = True
            self.tunnels.ended(self)
            # The side still closing flushes what it holds; a peer that never reads it is cut off.
            for transport in (self.client_t, self.upstream_t):
                self.tunnels.loop.call_later(CLOSE_LINGER, transport.abort)

    def check(self, now: float) -> None:
        """The sweep's hook: idle, lifetime, and closes taking longer than CLOSE_LINGER."""
        moved = self.up + self.down
        if moved != self.seen:
            self.seen = moved
            self.last_active = now
        if self.closing:
            if now - self.closing_since >= CLOSE_LINGER:
                self.close_code = 0
                self.client_t.abort()
                self.upstream_t.abort()
            return
        why = expiry(now, self.opened, self.last_active, self.route.tunnel)
        if why is not None:
            self.close(why, CLOSE_GOING_AWAY)
