"""Refusals: how a client connection (strangler.proxy.downstream.ClientProtocol, which holds the
state) answers a protocol violation: a JSON error after whatever response is still being produced,
then a half-close that lingers so the client reads the error rather than a reset."""

from __future__ import annotations

from strangler.proxy.http1 import error_response
from strangler.proxy.types import PAUSE_PIPELINE

REFUSAL_LINGER = 2.0  # seconds a refused connection stays half-closed so the client reads the error
LIMIT_RETRY_AFTER = 1  # seconds a client turned away by a limit is told to wait


class Refusals:
    __slots__ = ()

    def _refuse(self, status: int, code: str, message: str, *, keep_queue: bool = False,
                retry_after: int | None = None) -> None:
        """Answer a protocol violation and close; after any response still being produced (and, with
        `keep_queue`, after the pipelined requests already queued)."""
        server = self.server
        server.metrics.refused[status] += 1
        if server.access_log.enabled:
            method = self.parser.get_method() if self.url else b"-"
            server.access_log.write(b"-", method.decode("latin-1"), self.url[:512], "-", "-", "-", status, 0.0,
                                    0, False, code)
        self.refusal = error_response(status, code, message, close=True,
                                      retry_after=LIMIT_RETRY_AFTER if keep_queue else retry_after)
        if not keep_queue:
            self._drop_queue()
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
        self.pause(PAUSE_PIPELINE)
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
            self.server.loop.call_later(REFUSAL_LINGER, transport.close)
        else:
            transport.close()


