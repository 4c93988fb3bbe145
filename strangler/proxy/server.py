"""ProxyServer: the data plane the control plane starts, reads and steers (RouteControl)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping

from strangler.proxy.accesslog import AccessLog
from strangler.proxy.config import ProxyConfig
from strangler.proxy.downstream import ClientProtocol
from strangler.proxy.forwarding import Forwarding
from strangler.proxy.metrics import Metrics
from strangler.proxy.routing import CompiledTable
from strangler.proxy.shadow import Shadower
from strangler.proxy.tunnels import Tunnels
from strangler.proxy.types import BreakerState, Route, RouteState, RouteTable
from strangler.proxy.upstreams import Upstreams

LISTEN_BACKLOG = 2048
MAX_TICK = 1.0  # seconds between sweeps at most...
MIN_TICK = 0.05  # ...and at least
TICKS_PER_TIMEOUT = 4  # the shortest timeout is checked this many times over
DRAIN_SECONDS = 5.0  # close() lets in-flight requests finish this long
DRAIN_POLL = 0.05


class ProxyServer:
    """The data plane: accepts clients, routes each request, exposes RouteControl to the control plane."""

    def __init__(self, config: ProxyConfig, *, metrics: Metrics | None = None) -> None:
        self.config = config
        self._metrics = metrics if metrics is not None else Metrics()
        self.compiled = CompiledTable(config.table)
        self.override_secret = config.override_secret
        self.access_log = AccessLog(config.access_log)
        self.connections: set[ClientProtocol] = set()
        self.per_client: dict[str, int] = {}  # open connections per client address (limits.max_connections_per_client)
        self.closing = False
        self.upstreams = Upstreams(config.table)
        self._metrics.breaker_source = self.breaker_states
        self.shadow = Shadower(self.upstreams, self._metrics, config.shadow_concurrency, config.shadow_shed,
                               config.shadow_budget_bytes)
        self.tunnels = Tunnels(config.limits, self._metrics, self.access_log)
        self.forwarding = Forwarding(self.upstreams, self.shadow, self._metrics, self.access_log,
                                     config.retry_buffer_bytes, self.tunnels)
        self.loop: asyncio.AbstractEventLoop = None  # type: ignore[assignment]
        self._server: asyncio.Server | None = None
        self._sweeper: asyncio.TimerHandle | None = None
        self._tick = MAX_TICK
        self._mark = (0.0, 0.0)  # (process CPU seconds, loop time) at the last sweep

    async def start(self) -> None:
        self.loop = loop = asyncio.get_running_loop()
        self.upstreams.start(loop)
        self.forwarding.loop = loop
        self.tunnels.loop = loop
        self._server = await loop.create_server(
            lambda: ClientProtocol(self), self.config.listen_host, self.config.listen_port,
            backlog=LISTEN_BACKLOG, reuse_address=True,
        )
        self.access_log.start()
        timeouts = [t.read_timeout for t in self.config.table.targets.values()]
        timeouts += [t.idle_timeout for t in self.config.table.targets.values()]
        timeouts += (self.config.limits.keepalive_timeout, self.config.limits.header_timeout)
        timeouts += [t for r in self.config.table.routes for t in (r.tunnel.idle_timeout, r.tunnel.max_lifetime) if t]
        self._tick = min(MAX_TICK, max(MIN_TICK, min(timeouts) / TICKS_PER_TIMEOUT))
        self._mark = (time.process_time(), loop.time())
        self._sweeper = loop.call_later(self._tick, self._sweep)

    def _sweep(self) -> None:
        """One timer for every deadline: read timeouts, keep-alive and pool idle expiry, access log flush, and
        the CPU utilisation that decides whether shadow mirrors are shed."""
        now = self.loop.time()
        cpu = time.process_time()
        wall = now - self._mark[1]
        if wall > 0:
            self.shadow.adjust((cpu - self._mark[0]) / wall)
        self._mark = (cpu, now)
        for conn in list(self.connections):
            conn.check(now)
        self.upstreams.sweep(now)
        if self.tunnels.open or self.tunnels.drains:
            self.tunnels.sweep(now, self._route)
        if self.shadow.inflight:
            self.shadow.check(now)
        self.access_log.flush()
        self._sweeper = self.loop.call_later(self._tick, self._sweep)

    @property
    def port(self) -> int:
        assert self._server is not None, "start() first"
        return self._server.sockets[0].getsockname()[1]

    async def close(self) -> None:
        """Stop accepting, let in-flight requests finish (up to DRAIN_SECONDS), then close everything."""
        self.closing = True
        if self._server is not None:
            self._server.close()
        self.tunnels.close_all()
        for conn in list(self.connections):
            if conn.active is None:
                conn.closing = True
                conn.transport.close()
        deadline = self.loop.time() + DRAIN_SECONDS
        while any(c.active is not None for c in self.connections) and self.loop.time() < deadline:
            await asyncio.sleep(DRAIN_POLL)
        for conn in list(self.connections):
            conn.transport.abort()
        await self.shadow.close()
        self.upstreams.close()
        if self._sweeper is not None:
            self._sweeper.cancel()
        self.access_log.stop()
        if self._server is not None:
            await self._server.wait_closed()

    # -- RouteControl and what the admin API reads ----------------------------------------------------
    def apply_states(self, states: Mapping[str, RouteState]) -> None:
        """Swap in a new table in one assignment; in-flight requests keep the decision they had."""
        self.compiled = CompiledTable(self.compiled.table.with_states(states))

    def drain_tunnels(self, route: str, grace: float) -> int:
        """After `grace` seconds, close (WebSocket code 1012) the tunnels of `route` that its state then
        sends to the other side; returns how many tunnels the route has open now (strangler.proxy.tunnels)."""
        return self.tunnels.drain(route, grace)

    def _route(self, name: str) -> Route | None:
        for route in self.compiled.table.routes:
            if route.name == name:
                return route
        return None

    @property
    def table(self) -> RouteTable:
        return self.compiled.table

    @property
    def metrics(self) -> Metrics:
        return self._metrics

    def breaker_states(self) -> dict[str, BreakerState]:
        return self.upstreams.breaker_states()

    def shadow_report(self) -> dict[str, dict]:
        return self.shadow.report()

    def tunnels_open(self) -> dict[tuple[str, str], int]:
        """Open tunnels by (route, side): where a cutover's long-lived connections still are."""
        return {key: n for key, n in self._metrics.tunnels.items() if n}


def serve(config: ProxyConfig) -> None:
    """Run the proxy alone on a uvloop loop until interrupted (the control plane has its own runner)."""
    import uvloop

    async def main() -> None:
        server = ProxyServer(config)
        await server.start()
        try:
            await asyncio.Event().wait()
        finally:
            await server.close()

    loop = uvloop.new_event_loop()
    try:
        loop.run_until_complete(main())
    except KeyboardInterrupt:
        pass
    finally:
        loop.close()
