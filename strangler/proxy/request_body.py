"""RequestBody: the half of an exchange that takes the request body from the client parser.

A small body (a Content-Length of at most BUFFERED_BODY bytes, or a chunked one until it grows
past that) is read whole before an upstream connection is taken, so a client trickling a short
body holds no upstream worker; it then leaves in one write with the head. A larger body streams:
chunks are written to the upstream transport from the parser's callback, and while no upstream
takes them the client is paused once the retry buffer is full. The state lives in
strangler.proxy.exchange.Exchange, the only class built on this one.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from strangler.proxy.http1 import LAST_CHUNK, chunk_header
from strangler.proxy.types import PAUSE_BODY

if TYPE_CHECKING:
    from strangler.proxy.types import Target
    from strangler.proxy.upstream import UpstreamConnection

BODY_NONE, BODY_LENGTH, BODY_CHUNKED = 0, 1, 2
BUFFERED_BODY = 64 * 1024  # bodies up to this size are read whole before an upstream connection is taken
_NEEDS_LENGTH = frozenset({b"POST", b"PUT", b"PATCH"})


class RequestBody:
    __slots__ = ()

    def buffers_body(self) -> bool:
        """Whether start() waits for the whole body: small, and not waiting for a 100 Continue that
        only the upstream would send."""
        if self.body_done or self.expect:
            return False
        return self.body_mode == BODY_CHUNKED or self.content_length <= BUFFERED_BODY

    def body_received(self, data: bytes) -> None:
        n = len(data)
        self.body_bytes += n
        self.progress += 1
        if self.capture is not None:  # mirrored: the body is kept for the mirror too
            if self.body_bytes > self.retain_limit:
                self.lose_mirror(over_budget=False)  # too big to keep whole: no mirror
            else:
                self.hold_for_mirror(n)
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
        if self.waiting_body:
            if self.pending > BUFFERED_BODY:  # a chunked body that is not small after all: stream it
                self.waiting_body = False
                self.launch()
            return
        if self.pending > self.fwd.retry_buffer_bytes:
            self.client.pause(PAUSE_BODY)  # nowhere to send it yet: stop reading until an upstream takes it

    def body_complete(self) -> None:
        self.body_done = True
        if self.waiting_body:
            self.waiting_body = False
            self.launch()
            return
        up = self.upstream
        if up is not None and self.up_chunked:
            up.transport.write(LAST_CHUNK)  # type: ignore[union-attr]

    def send_head(self, conn: UpstreamConnection, target: Target) -> None:
        upstreams = self.fwd.upstreams
        parts = [self.head_common, upstreams.target_headers[target.name]]
        if not self.has_host:
            parts.append(upstreams.host_headers[target.name])
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
        client = self.client
        if client.pause_mask:
            client.resume(PAUSE_BODY)
