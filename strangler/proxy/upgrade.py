"""The pure decisions of a protocol upgrade (WebSocket tunnels): no sockets, no clock.

Whether a request asks for an upgrade the route allows, whether another tunnel may open, the
WebSocket close frame the proxy sends when it drains a tunnel, where frames end in the stream a
server sends (so that frame goes out between two frames, never inside one), and why a tunnel must
close now. strangler.proxy.tunnel applies them to live connections.
"""

from __future__ import annotations

import enum
import struct

from strangler.proxy.types import Limits, TunnelPolicy

WEBSOCKET = "websocket"
# RFC 6455 7.4.1 close codes the proxy itself sends.
CLOSE_GOING_AWAY = 1001  # the proxy shuts down
CLOSE_SERVICE_RESTART = 1012  # the route moved to the other side: reconnect (drain)
MAX_CLOSE_REASON = 123  # a close frame's payload is at most 125 bytes: 2 for the code, the rest reason
_OP_CLOSE = 0x8
_FIN = 0x80
_MASKED = 0x80  # the second header byte's mask bit: every frame a client sends is masked
_MAX_FRAME_HEADER = 14  # 2 bytes, 8 of extended length, 4 of mask


class Closer(enum.StrEnum):
    """Who or what ended a tunnel (the access log's ``closed_by``)."""

    CLIENT = "client"  # the client closed or reset its connection
    UPSTREAM = "upstream"  # the upstream did
    IDLE = "idle"  # no byte either way for the route's tunnel idle_timeout
    LIFETIME = "lifetime"  # open longer than the route's tunnel max_lifetime
    DRAIN = "drain"  # a flip asked the tunnels of the old side to reconnect (close code 1012)
    LIMIT = "limit"  # the proxy shut down (close code 1001)


def upgrade_refusal(requested: bytes, policy: TunnelPolicy) -> tuple[int, str, str] | None:
    """(status, code, message) refusing an Upgrade header value, or None when the route allows it.
    One protocol only: a list would let the upstream pick one the route does not allow."""
    token = requested.strip().lower().decode("latin-1")
    if not token or "," in token:
        return 400, "bad_upgrade", "Upgrade must name exactly one protocol"
    name = token.partition("/")[0]  # "websocket" or a versioned token such as "h2c"
    if name not in policy.upgrades:
        allowed = ", ".join(policy.upgrades) or "none"
        return 400, "upgrade_not_allowed", f"Upgrade to {token!r} is not allowed on this route (allowed: {allowed})"
    return None


def admission(open_total: int, open_from_client: int, limits: Limits) -> str | None:
    """The limit a new tunnel would exceed ("tunnels" | "client_tunnels"), or None when it may open.
    Handshakes under way count: a burst of them cannot overshoot the cap."""
    if limits.max_tunnels and open_total >= limits.max_tunnels:
        return "tunnels"
    if limits.max_tunnels_per_client and open_from_client >= limits.max_tunnels_per_client:
        return "client_tunnels"
    return None


def close_frame(code: int, reason: str = "") -> bytes:
    """A server-to-client close frame (unmasked, RFC 6455 5.5.1)."""
    text = reason.encode()[:MAX_CLOSE_REASON]
    payload = struct.pack("!H", code) + text
    return bytes((_FIN | _OP_CLOSE, len(payload))) + payload


def masked_close_frame(code: int, reason: str, key: bytes) -> bytes:
    """A client-to-server close frame, masked with the 4-byte `key` (RFC 6455 5.3): what the proxy
    sends the upstream when it ends a tunnel the client did not close, so the upstream sees a clean
    close rather than a dropped connection (1006)."""
    payload = struct.pack("!H", code) + reason.encode()[:MAX_CLOSE_REASON]
    masked = bytes(b ^ key[i % 4] for i, b in enumerate(payload))
    return bytes((_FIN | _OP_CLOSE, _MASKED | len(payload))) + key + masked


class FrameCursor:
    """Follows frame boundaries in one direction of a WebSocket stream without copying payloads:
    only frame headers are read. `at_boundary` is true between two frames; `saw_close` once a close
    frame began (who sent the first one started the closing handshake)."""

    __slots__ = ("remaining", "header", "saw_close")

    def __init__(self) -> None:
        self.remaining = 0  # payload bytes of the current frame still to come
        self.header = b""  # a frame header split across reads
        self.saw_close = False

    @property
    def at_boundary(self) -> bool:
        return not self.remaining and not self.header

    def feed(self, data: bytes, *, stop_at_boundary: bool = False) -> int:
        """Advance over `data`; returns how many bytes were consumed: all of them, or with
        `stop_at_boundary` up to the first frame end inside `data` (0 when already at one)."""
        pos, end = 0, len(data)
        while pos < end:
            if stop_at_boundary and self.at_boundary:
                return pos
            if self.remaining:
                step = min(self.remaining, end - pos)
                self.remaining -= step
                pos += step
                continue
            header = self.header + data[pos:pos + _MAX_FRAME_HEADER]
            size = frame_header_size(header)
            if size is None or len(header) < size:  # the header goes on in the next read
                self.header = header
                return end
            pos += size - len(self.header)
            self.header = b""
            self.remaining = payload_length(header)
            if header[0] & 0x0F == _OP_CLOSE:
                self.saw_close = True
        return pos


def frame_header_size(header: bytes) -> int | None:
    """Bytes of the frame header starting `header`, or None when too few bytes tell."""
    if len(header) < 2:
        return None
    length = header[1] & 0x7F
    size = 2 + (2 if length == 126 else 8 if length == 127 else 0)
    return size + (4 if header[1] & 0x80 else 0)


def payload_length(header: bytes) -> int:
    """The payload length in a complete frame header."""
    length = header[1] & 0x7F
    if length == 126:
        return struct.unpack_from("!H", header, 2)[0]
    if length == 127:
        return struct.unpack_from("!Q", header, 2)[0]
    return length


def expiry(now: float, opened: float, last_active: float, policy: TunnelPolicy) -> Closer | None:
    """Why a tunnel must close at `now` (loop times), or None."""
    if policy.max_lifetime and now - opened >= policy.max_lifetime:
        return Closer.LIFETIME
    if policy.idle_timeout and now - last_active >= policy.idle_timeout:
        return Closer.IDLE
    return None
