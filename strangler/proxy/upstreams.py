"""Upstreams: per-target connection pools, circuit breakers and request-header bytes.

What an exchange or a shadow mirror needs to reach a target, and nothing else of the server: the
pools (created once the loop runs), one breaker per target, the bytes every request to a target
carries (static ``add_headers`` plus the current internal credential) and its ``Host`` line.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable

from strangler.proxy.breaker import CircuitBreaker
from strangler.proxy.config import ConfigError
from strangler.proxy.credentials import HEADER as CREDENTIAL_HEADER
from strangler.proxy.credentials import PAIR_SEPARATOR, CredentialSource, Keyring
from strangler.proxy.types import MONOLITH, BreakerPolicy, BreakerState, RouteTable, Target
from strangler.proxy.upstream_pool import UpstreamPool


class Upstreams:
    __slots__ = ("targets", "pools", "breakers", "credentials", "target_headers", "host_headers", "loop",
                 "header_bytes")

    def __init__(self, table: RouteTable) -> None:
        self.targets = table.targets
        self.pools: dict[str, UpstreamPool] = {}
        self.loop: asyncio.AbstractEventLoop = None  # type: ignore[assignment]  # set by start()
        self.breakers = {name: CircuitBreaker(breaker_policy(table, name)) for name in table.targets}
        self.credentials = target_credentials(table.targets.values())
        self.target_headers: dict[str, bytes] = {}
        self.refresh_headers()
        self.host_headers = {name: b"Host: %s:%d\r\n" % (t.host.encode(), t.port) for name, t in self.targets.items()}

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.pools = {name: UpstreamPool(t, loop) for name, t in self.targets.items()}

    def refresh_headers(self) -> None:
        """Static add_headers plus the current internal credential; re-minted long before expiry."""
        for name, target in self.targets.items():
            head = b"".join(b"%s: %s\r\n" % (k.encode(), v.encode()) for k, v in target.add_headers)
            source = self.credentials.get(name)
            if source is not None:
                head += b"%s: %s\r\n" % (CREDENTIAL_HEADER.encode(), source.current().encode())
            self.target_headers[name] = head
        # The most bytes of target headers a mirror's payload adds (for the shadow byte budget).
        self.header_bytes = max((len(h) for h in self.target_headers.values()), default=0)

    def sweep(self, now: float) -> None:
        """From the server's periodic sweep: idle connections expire, credentials are re-minted."""
        for pool in self.pools.values():
            pool.expire_idle(now)
        if self.credentials:
            self.refresh_headers()

    def breaker_states(self) -> dict[str, BreakerState]:
        return {name: b.state for name, b in self.breakers.items()}

    def close(self) -> None:
        for pool in self.pools.values():
            pool.close()


def breaker_policy(table: RouteTable, target: str) -> BreakerPolicy:
    """A target's breaker takes the policy of the first route serving it (the DEFAULT's for the monolith)."""
    for route in table.routes:
        if route.service == target or (target == MONOLITH and route.service is None):
            return route.breaker
    return BreakerPolicy()


def target_credentials(targets: Iterable[Target]) -> dict[str, CredentialSource]:
    """One credential source per target that wants signed requests; refuses to start without its key.
    The proxy keeps only each target's pair key, never the root secret."""
    out: dict[str, CredentialSource] = {}
    for target in targets:
        caller, audience = target.credential_caller, target.credential_audience
        if caller is None:
            continue
        if not target.credential_key:
            raise ConfigError(f"[targets.{target.name}] credential: no key for {caller}{PAIR_SEPARATOR}{audience}: "
                              f"environment variable {target.credential_secret_env} is empty or unset and "
                              f"{target.credential_keys_env or 'no keys variable'} has no such pair")
        keys = Keyring(pairs={f"{caller}{PAIR_SEPARATOR}{audience}": target.credential_key})
        out[target.name] = CredentialSource(keys, caller, audience=audience)
    return out
