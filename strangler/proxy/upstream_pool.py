"""UpstreamPool: the idle keep-alive connections to one target (strangler.proxy.upstream), most
recently used first; idle expiry runs in the server's sweep, never per request."""

from __future__ import annotations

import asyncio

from strangler.proxy.types import Target
from strangler.proxy.upstream import UpstreamConnection, UpstreamError


class UpstreamPool:
    """Idle keep-alive connections to one target, most recently used first."""

    __slots__ = ("target", "idle", "now", "_loop", "_closed")

    def __init__(self, target: Target, loop: asyncio.AbstractEventLoop) -> None:
        self.target = target
        self.idle: list[UpstreamConnection] = []
        self.now = loop.time()  # coarse clock, advanced by expire_idle on every sweep
        self._loop = loop
        self._closed = False

    def get_idle(self) -> UpstreamConnection | None:
        idle = self.idle
        while idle:
            conn = idle.pop()
            if not conn.closed:
                return conn
        return None

    def expire_idle(self, now: float) -> None:
        """Called by the server's sweep (not per request): close connections idle past the timeout."""
        self.now = now
        idle = self.idle
        if idle and idle[0].idle_since < now - self.target.idle_timeout:  # oldest first
            stale_before = now - self.target.idle_timeout
            stale = [c for c in idle if c.idle_since < stale_before]
            idle[:] = [c for c in idle if c.idle_since >= stale_before]
            for conn in stale:
                conn.abort()

    async def connect(self) -> UpstreamConnection:
        target = self.target
        try:
            _, conn = await asyncio.wait_for(
                self._loop.create_connection(lambda: UpstreamConnection(self), target.host, target.port),
                target.connect_timeout,
            )
        except TimeoutError:
            raise UpstreamError("connect", f"connect to {target.name} timed out") from None
        except OSError as exc:
            raise UpstreamError("connect", f"connect to {target.name} failed: {exc.strerror or exc}") from None
        return conn

    async def acquire(self) -> UpstreamConnection:
        conn = self.get_idle()
        return conn if conn is not None else await self.connect()

    def release(self, conn: UpstreamConnection) -> None:
        if conn.feeding:  # called from a parser callback: the rest of the read decides (data_received)
            conn.parked = True
            return
        if conn.reusable() and not conn.trailing and not self._closed and len(self.idle) < self.target.pool_size:
            conn.sink = None
            conn.idle_since = self.now
            self.idle.append(conn)
        else:
            conn.abort()

    def discard(self, conn: UpstreamConnection) -> None:
        try:
            self.idle.remove(conn)
        except ValueError:
            pass

    def close(self) -> None:
        self._closed = True
        for conn in self.idle:
            conn.transport.close()  # type: ignore[union-attr]
        self.idle.clear()
