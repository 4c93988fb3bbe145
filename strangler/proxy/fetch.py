"""Fetch: one buffered request to an upstream and its answer, driven by upstream callbacks.

Shadow mirrors use it (strangler.proxy.shadow): the request goes out in one write, the response
is kept up to diff.MAX_BODY for comparison (each byte charged to the shadow byte budget; past it the
fetch is abandoned as `shed`), and a read deadline is checked by the server's sweep.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Protocol

from strangler.proxy.diff import MAX_BODY, Response
from strangler.proxy.upstream import UpstreamConnection, UpstreamError
from strangler.proxy.upstream_pool import UpstreamPool


class Budget(Protocol):
    def hold(self, n: int) -> bool: ...


class Fetch:
    """One buffered request to an upstream, driven by callbacks (a ResponseSink); the response is
    kept up to MAX_BODY. `on_done(fetch)` runs once, with `response` or `error` set."""

    __slots__ = ("pool", "payload", "head_request", "on_done", "conn", "status", "headers", "chunks", "size",
                 "deadline", "response", "error", "finished", "connecting", "budget", "held", "shed")

    def __init__(self, pool: UpstreamPool, payload: bytes, head_request: bool,
                 on_done: Callable[[Fetch], None], budget: Budget | None = None) -> None:
        self.pool = pool
        self.payload = payload
        self.head_request = head_request
        self.on_done = on_done
        self.conn: UpstreamConnection | None = None
        self.status = 0
        self.headers: list[tuple[bytes, bytes]] = []
        self.chunks: list[bytes] = []
        self.size = 0
        self.deadline = 0.0
        self.response: Response | None = None
        self.error: Exception | None = None
        self.finished = False
        self.connecting: asyncio.Task[UpstreamConnection] | None = None
        self.budget = budget
        self.held = 0  # bytes of the answer charged to the budget; the owner gives them back
        self.shed = False  # abandoned: the answer would have gone past the budget

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        conn = self.pool.get_idle()
        if conn is not None:
            self._send(conn, loop)
            return
        self.connecting = task = loop.create_task(self.pool.connect())  # keep a reference: tasks are weak
        task.add_done_callback(lambda t: self._connected(t, loop))

    def _connected(self, task: asyncio.Task[UpstreamConnection], loop: asyncio.AbstractEventLoop) -> None:
        self.connecting = None
        if task.cancelled():
            self._done(UpstreamError("aborted", "mirror cancelled"))
        elif task.exception() is not None:
            self._done(task.exception())  # type: ignore[arg-type]
        elif self.finished:
            task.result().abort()
        else:
            self._send(task.result(), loop)

    def _send(self, conn: UpstreamConnection, loop: asyncio.AbstractEventLoop) -> None:
        self.conn = conn
        conn.begin(self, self.head_request)
        conn.transport.write(self.payload)  # type: ignore[union-attr]
        self.deadline = loop.time() + self.pool.target.read_timeout

    def expire(self, now: float) -> None:
        if self.deadline and now >= self.deadline and not self.finished:
            self.abort()

    def abort(self) -> None:
        if self.conn is not None:
            self.conn.abort()
        self._done(UpstreamError("timeout", f"{self.pool.target.name} did not answer the mirror"))

    def _done(self, error: Exception | None) -> None:
        if not self.finished:
            self.finished = True
            self.error = error
            self.on_done(self)

    # -- ResponseSink -------------------------------------------------------------------------------
    def up_interim(self, status: int) -> None:
        pass

    def up_head(self, status: int, headers: list[tuple[bytes, bytes]], conn: UpstreamConnection) -> None:
        self.status, self.headers = status, headers

    def up_body(self, data: bytes) -> None:
        n = len(data)
        if self.size <= MAX_BODY and not self.finished:
            if self.budget is not None:
                if not self.budget.hold(n):
                    self.shed = True
                    self.abort()
                    return
                self.held += n
            self.chunks.append(data)
        self.size += n

    def up_flush(self) -> None:
        pass

    def up_complete(self) -> None:
        conn = self.conn
        if conn is not None:
            if conn.reusable():
                conn.pool.release(conn)
            else:
                conn.abort()
        data = b"".join(self.chunks)
        self.response = Response(self.status, self.headers, data[:MAX_BODY], self.size > MAX_BODY)
        self._done(None)

    def up_lost(self, error: UpstreamError) -> None:
        self._done(error)

    def up_pause_writing(self) -> None:
        pass

    def up_resume_writing(self) -> None:
        pass
