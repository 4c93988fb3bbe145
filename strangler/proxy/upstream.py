"""Keep-alive connections to upstream targets, at the asyncio Protocol level (their pools are in
strangler.proxy.upstream_pool).

One UpstreamConnection carries one exchange at a time and reports parser events straight to its
sink (the exchange), so response bytes go to the client without queues or extra copies. A
connection whose upstream sends anything after a complete response (in the same read or later) is
closed, never pooled: those bytes would otherwise be read as the next client's answer.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Protocol

import httptools

from strangler.proxy.http1 import HOP_BY_HOP, NO_BODY_STATUS, connection_tokens

if TYPE_CHECKING:
    from strangler.proxy.tunnel import Tunnel

SMALL_BODY = 64 * 1024  # a head announcing at most this much body waits for it, to leave in one write

# Response headers on_header does more with than pass on: hop-by-hop ones (HOP_BY_HOP) are dropped.
_HOP, _CONNECTION, _TRANSFER_ENCODING, _UPGRADE, _CONTENT_LENGTH, _CONTENT_TYPE, _REQUEST_ID = range(7)
_HEADER_KINDS = dict.fromkeys(HOP_BY_HOP, _HOP) | {
    b"connection": _CONNECTION, b"transfer-encoding": _TRANSFER_ENCODING, b"upgrade": _UPGRADE,
    b"content-length": _CONTENT_LENGTH, b"content-type": _CONTENT_TYPE, b"x-request-id": _REQUEST_ID,
}
# Spellings as most servers send them, so the common case skips lower(); the lower-case ones above
# catch every other spelling.
_HEADER_KINDS |= {name.title().replace(b"-Id", b"-ID"): kind for name, kind in list(_HEADER_KINDS.items())}
_HEADER_KINDS |= {name.title(): kind for name, kind in list(_HEADER_KINDS.items())}
_PLAIN_CONNECTION = frozenset({b"keep-alive", b"close", b"Keep-Alive", b"Close"})
# Every header name as received -> its kind, _PASS for one passed on as it is: upstreams repeat a handful
# of names (Server, Date, ...), so lower() and the second lookup run once per spelling, not per response.
_PASS = 7
_SEEN_KINDS: dict[bytes, int] = dict(_HEADER_KINDS)
_SEEN_KINDS_KEPT = 1024  # past this many spellings, new ones are classified each time


class UpstreamError(Exception):
    """The upstream failed; `kind` is connect | timeout | lost | protocol."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


class ResponseSink(Protocol):
    def up_interim(self, status: int) -> None: ...
    def up_head(self, status: int, headers: list[tuple[bytes, bytes]], conn: UpstreamConnection) -> None: ...
    def up_body(self, data: bytes) -> None: ...
    def up_flush(self) -> None: ...
    def up_complete(self) -> None: ...
    def up_lost(self, error: UpstreamError) -> None: ...
    def up_pause_writing(self) -> None: ...
    def up_resume_writing(self) -> None: ...
    def up_upgrade(self, headers: list[tuple[bytes, bytes]], protocol: bytes,
                   conn: UpstreamConnection) -> Tunnel | None: ...


class ConnectionHome(Protocol):
    """Where a connection goes back to when an exchange ends: its pool (strangler.proxy.upstream_pool),
    passed in, so this module does not import the pool that imports it."""

    def release(self, conn: UpstreamConnection) -> None: ...
    def discard(self, conn: UpstreamConnection) -> None: ...


class UpstreamConnection(asyncio.Protocol):
    __slots__ = (
        "pool", "transport", "parser", "sink", "headers", "head_request", "has_length", "chunked",
        "keep_alive", "status", "got_head", "done", "closed", "uses", "_drop", "has_request_id", "small",
        "idle_since", "feeding", "parked", "trailing", "upgrading", "upgrade_to", "tunnel",
        "content_type",
    )

    def __init__(self, pool: ConnectionHome) -> None:
        self.pool = pool
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpResponseParser(self)
        self.sink: ResponseSink | None = None
        self.headers: list[tuple[bytes, bytes]] = []
        self.head_request = False
        self.has_length = False
        self.chunked = False
        self.keep_alive = False
        self.status = 0
        self.got_head = False
        self.done = True
        self.closed = False
        self.uses = 0
        self._drop: list[bytes] | None = None
        self.has_request_id = False
        self.small = False  # Content-Length body of at most SMALL_BODY bytes
        self.idle_since = 0.0
        self.feeding = False  # inside parser.feed_data: a release to the pool waits for the feed's end
        self.parked = False  # released during the feed: pooled once the rest of the read is known empty
        self.trailing = False  # bytes followed a complete response: never reuse this connection
        self.upgrading: bytes | None = None  # the Upgrade the request asked for: a 101 makes this a tunnel
        self.upgrade_to: bytes | None = None  # the Upgrade header of the answer
        self.tunnel: Tunnel | None = None  # set by a 101: takes the connection once the parser stops
        self.content_type: bytes | None = None  # of the answer: a stream type lifts the response deadline

    # -- used by the exchange -------------------------------------------------------------------
    def begin(self, sink: ResponseSink, head_request: bool, upgrading: bytes | None = None) -> None:
        """Attach an exchange; the caller then writes the request with `self.transport.write`."""
        self.sink = sink
        self.head_request = head_request
        self.upgrading = upgrading
        self.upgrade_to = None
        self.content_type = None
        self.headers = []
        self.has_request_id = False
        self.small = False
        self.got_head = False
        self.done = False
        self.status = 0
        self.uses += 1

    def reusable(self) -> bool:
        return self.done and self.keep_alive and not self.closed

    def abort(self) -> None:
        self.sink = None
        self.closed = True
        if self.transport is not None:
            self.transport.abort()

    # -- asyncio.Protocol -----------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        if self.done:  # bytes while idle or after a HEAD: the connection cannot be trusted any more
            self.abort()
            self.pool.discard(self)
            return
        self.feeding = True
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade as exc:  # after a 101: the rest of the read is the tunnel's
            self.feeding = self.parked = False
            tunnel, self.tunnel = self.tunnel, None
            if tunnel is None:
                if not self.closed:
                    self._fail(UpstreamError("protocol", "protocol switch nobody asked for"))
                return
            offset = exc.args[0] if exc.args and isinstance(exc.args[0], int) else len(data)
            tunnel.start(data[offset:])
            return
        except httptools.HttpParserError as exc:
            self.feeding = self.parked = False
            if self.trailing:  # the response was complete and delivered; only the connection goes
                self.abort()
                self.pool.discard(self)
                return
            self._fail(UpstreamError("protocol", f"invalid response from upstream: {exc}"))
            return
        self.feeding = False
        if self.parked:
            self.parked = False
            if self.trailing:
                self.abort()
            else:
                self.pool.release(self)
            return
        if self.got_head and not self.done and not self.small and self.sink is not None:
            self.sink.up_flush()  # a streamed body may take a while: the client gets the head now

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.pool.discard(self)
        if self.done:
            return
        if self.got_head and not self.has_length and not self.chunked:
            self._complete()  # body delimited by close
            return
        self._fail(UpstreamError("lost", "upstream closed the connection"))

    def pause_writing(self) -> None:
        if self.sink is not None:
            self.sink.up_pause_writing()

    def resume_writing(self) -> None:
        if self.sink is not None:
            self.sink.up_resume_writing()

    # -- httptools callbacks ----------------------------------------------------------------------
    def on_message_begin(self) -> None:
        if self.done:  # a response nobody asked for, right after a complete one
            self.trailing = True
            raise UpstreamError("protocol", "bytes after a complete response")

    def on_header(self, name: bytes, value: bytes) -> None:
        kind = _SEEN_KINDS.get(name)
        if kind is None:
            kind = _HEADER_KINDS.get(name.lower(), _PASS)
            if len(_SEEN_KINDS) < _SEEN_KINDS_KEPT:
                _SEEN_KINDS[name] = kind
        if kind == _PASS:
            self.headers.append((name, value))
            return
        if kind == _CONTENT_LENGTH:
            self.has_length = True
            self.small = value.isdigit() and len(value) < 6 and int(value) <= SMALL_BODY
        elif kind == _CONTENT_TYPE:
            self.content_type = value
        elif kind == _REQUEST_ID:
            self.has_request_id = True
        elif kind == _CONNECTION:
            if value not in _PLAIN_CONNECTION:  # "keep-alive" or "close" name no header to drop
                drop = [t for t in connection_tokens(value) if t not in (b"close", b"keep-alive")]
                if drop:
                    self._drop = (self._drop or []) + drop
            return
        elif kind == _TRANSFER_ENCODING:
            self.chunked = True
            return
        elif kind == _UPGRADE:
            self.upgrade_to = value
            return
        elif kind == _HOP:
            return
        self.headers.append((name, value))

    def on_headers_complete(self) -> None:
        status = self.parser.get_status_code()
        sink = self.sink
        if status == 101 and self.upgrading is not None:
            self._switch(sink)
            return
        if 100 <= status < 200:
            self.headers = []
            self.chunked = self.has_length = False
            self._drop = None
            if sink is not None and status != 101:
                sink.up_interim(status)
            return
        self.status = status
        self.got_head = True
        self.keep_alive = self.parser.should_keep_alive()
        if self._drop:
            drop = set(self._drop)
            self.headers = [(n, v) for n, v in self.headers if n.lower() not in drop]
            self._drop = None
        if self.head_request or status in NO_BODY_STATUS:
            self.has_length = True  # no body follows, whatever the headers say
            self.chunked = False
        if sink is not None:
            sink.up_head(status, self.headers, self)
        if self.head_request and not self.done:
            # httptools cannot be told the response has no body; finish here and use a fresh parser.
            self.parser = httptools.HttpResponseParser(self)
            self._complete()

    def _switch(self, sink: ResponseSink | None) -> None:
        """A 101 to the protocol asked for: the exchange answers the client and builds the tunnel,
        which takes this connection when the parser stops (data_received)."""
        answered = self.upgrade_to
        if answered is None or answered.strip().lower() != (self.upgrading or b"").strip().lower():
            raise UpstreamError("protocol", "101 without the Upgrade the request asked for")
        self.status = 101
        self.got_head = self.done = True
        self.sink = None
        self.keep_alive = False  # never pooled again
        if self._drop:
            drop = set(self._drop)
            self.headers = [(n, v) for n, v in self.headers if n.lower() not in drop]
            self._drop = None
        if sink is not None:
            self.tunnel = sink.up_upgrade(self.headers, answered, self)

    def on_body(self, body: bytes) -> None:
        if self.sink is not None:
            self.sink.up_body(body)
        elif self.done:  # a body after a HEAD answer (its parser is retired) or after completion
            self.trailing = True

    def on_message_complete(self) -> None:
        if self.got_head and not self.done:
            self._complete()

    def _complete(self) -> None:
        self.done = True
        sink, self.sink = self.sink, None
        self.chunked = self.has_length = False
        if sink is not None:
            sink.up_complete()

    def _fail(self, error: UpstreamError) -> None:
        sink = self.sink
        self.done = True
        self.abort()
        self.pool.discard(self)
        if sink is not None:
            sink.up_lost(error)
