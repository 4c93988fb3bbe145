"""ProxyServer: the data plane the control plane starts, reads and steers (RouteControl)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable, Mapping

from strangler.accesslog import AccessLog
from strangler.breaker import CircuitBreaker
from strangler.config import ConfigError, ProxyConfig
from strangler.credentials import HEADER as CREDENTIAL_HEADER
from strangler.credentials import CredentialSource
from strangler.downstream import ClientProtocol
from strangler.metrics import Metrics
from strangler.routing import CompiledTable
from strangler.shadow import Shadower
from strangler.types import MONOLITH, BreakerPolicy, BreakerState, RouteState, RouteTable, Target
from strangler.upstream import UpstreamPool


class ProxyServer:
    """The data plane: accepts clients, routes each request, exposes RouteControl to the control plane."""

    def __init__(self, config: ProxyConfig, *, metrics: Metrics | None = None) -> None:
        self.config = config
        self._metrics = metrics if metrics is not None else Metrics()
        self.compiled = CompiledTable(config.table)
        self.override_secret = config.override_secret
        self.access_log = AccessLog(config.access_log)
        self.connections: set[ClientProtocol] = set()
        self.closing = False
        self.breakers = {name: CircuitBreaker(_breaker_policy(config.table, name)) for name in config.table.targets}
        self._metrics.breaker_source = self.breaker_states
        self.credentials = target_credentials(config.table.targets.values())
        self.target_headers: dict[str, bytes] = {}
        self._refresh_target_headers()
        self.host_headers = {
            name: b"Host: %s:%d\r\n" % (t.host.encode(), t.port) for name, t in config.table.targets.items()
        }
        self.pools: dict[str, UpstreamPool] = {}
        self.shadow = Shadower(self, config.shadow_concurrency, config.shadow_shed)
        self.loop: asyncio.AbstractEventLoop = None  # type: ignore[assignment]
        self._server: asyncio.Server | None = None
        self._sweeper: asyncio.TimerHandle | None = None
        self._tick = 1.0
        self._mark = (0.0, 0.0)  # (process CPU seconds, loop time) at the last sweep

    async def start(self) -> None:
        self.loop = loop = asyncio.get_running_loop()
        self.pools = {name: UpstreamPool(t, loop) for name, t in self.config.table.targets.items()}
        self._server = await loop.create_server(
            lambda: ClientProtocol(self), self.config.listen_host, self.config.listen_port,
            backlog=2048, reuse_address=True,
        )
        self.access_log.start()
        timeouts = [t.read_timeout for t in self.config.table.targets.values()]
        timeouts += [t.idle_timeout for t in self.config.table.targets.values()]
        timeouts += (self.config.limits.keepalive_timeout, self.config.limits.header_timeout)
        self._tick = min(1.0, max(0.05, min(timeouts) / 4))
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
        for pool in self.pools.values():
            pool.expire_idle(now)
        if self.shadow.inflight:
            self.shadow.check(now)
        self.access_log.flush()
        if self.credentials:
            self._refresh_target_headers()
        self._sweeper = self.loop.call_later(self._tick, self._sweep)

    def _refresh_target_headers(self) -> None:
        """Static add_headers plus the current internal credential; re-minted long before expiry."""
        for name, target in self.config.table.targets.items():
            head = b"".join(b"%s: %s\r\n" % (k.encode(), v.encode()) for k, v in target.add_headers)
            source = self.credentials.get(name)
            if source is not None:
                head += b"%s: %s\r\n" % (CREDENTIAL_HEADER.encode(), source.current().encode())
            self.target_headers[name] = head

    @property
    def port(self) -> int:
        assert self._server is not None, "start() first"
        return self._server.sockets[0].getsockname()[1]

    async def close(self) -> None:
        """Stop accepting, let in-flight requests finish (up to 5 s), then close everything."""
        self.closing = True
        if self._server is not None:
            self._server.close()
        for conn in list(self.connections):
            if conn.active is None:
                conn.closing = True
                conn.transport.close()
        deadline = self.loop.time() + 5.0
        while any(c.active is not None for c in self.connections) and self.loop.time() < deadline:
            await asyncio.sleep(0.05)
        for conn in list(self.connections):
            conn.transport.abort()
        await self.shadow.close()
        for pool in self.pools.values():
            pool.close()
        if self._sweeper is not None:
            self._sweeper.cancel()
        self.access_log.stop()
        if self._server is not None:
            await self._server.wait_closed()

    # -- RouteControl and what the admin API reads ----------------------------------------------------
    def apply_states(self, states: Mapping[str, RouteState]) -> None:
        """Swap in a new table in one assignment; in-flight requests keep the decision they had."""
        self.compiled = CompiledTable(self.compiled.table.with_states(states))

    @property
    def table(self) -> RouteTable:
        return self.compiled.table

    @property
    def metrics(self) -> Metrics:
        return self._metrics

    def breaker_states(self) -> dict[str, BreakerState]:
        return {name: b.state for name, b in self.breakers.items()}

    def shadow_report(self) -> dict[str, dict]:
        return self.shadow.report()


def _breaker_policy(table: RouteTable, target: str) -> BreakerPolicy:
    """A target's breaker takes the policy of the first route serving it (the DEFAULT's for the monolith)."""
    for route in table.routes:
        if route.service == target or (target == MONOLITH and route.service is None):
            return route.breaker
    return BreakerPolicy()


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


def target_credentials(targets: Iterable[Target]) -> dict[str, CredentialSource]:
    """One credential source per target that wants signed requests; refuses to start without its secret."""
    out: dict[str, CredentialSource] = {}
    for target in targets:
        if target.credential_caller is None:
            continue
        if not target.credential_secret:
            raise ConfigError(f"[targets.{target.name}] credential: environment variable "
                              f"{target.credential_secret_env} is empty or unset")
        out[target.name] = CredentialSource(target.credential_secret, target.credential_caller)
    return out
