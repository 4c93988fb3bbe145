"""Shared vocabulary of the strangler: routes, modes, targets and decisions.

Everything here is plain data. The route table file is parsed into these (config.py), the
control plane stores and changes ``RouteState`` (store.py), and the data plane turns a request
plus a ``RouteTable`` into a ``Decision`` (routing.py).
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    import asyncio

MONOLITH = "monolith"  # name of the target every table must define; the DEFAULT route uses it
DEFAULT_ROUTE = "DEFAULT"

# Why a client connection stopped reading (ClientSink.pause/resume, a bit mask): reading resumes
# only when no reason is left.
PAUSE_PIPELINE = 1  # a pipelined request waits while the one before it is answered
PAUSE_BODY = 2  # request body bytes are buffered with no upstream connection to take them yet
PAUSE_UPSTREAM = 4  # the upstream connection is not taking request bytes (its transport paused writing)
PAUSE_UPGRADE = 8  # an upgrade request waits for its answer: a tunnel, or plain HTTP again


class Mode(enum.StrEnum):
    MONOLITH = "monolith"  # all traffic to the monolith
    SHADOW = "shadow"  # monolith serves; request mirrored to the service and compared
    CANARY = "canary"  # `weight` percent of cohorts to the service, sticky per cohort
    SERVICE = "service"  # all traffic to the service


class Side(enum.StrEnum):
    MONOLITH = "monolith"
    SERVICE = "service"


class BreakerState(enum.StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE", "TRACE"})
# What the proxy sends twice (retry, fallback, shadow mirror and noise replay) without being told it
# may: PUT and DELETE are idempotent only if nothing else wrote in between, and a service that failed
# may have applied the write already. TRACE echoes the request, credentials included: never resent.
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


@dataclass(frozen=True, slots=True)
class Target:
    """An upstream origin (scheme http only: the proxy terminates TLS elsewhere)."""

    name: str
    host: str
    port: int
    connect_timeout: float = 1.0
    read_timeout: float = 30.0
    pool_size: int = 64  # idle keep-alive connections kept per target
    # Close pooled connections idle this long; keep it below the upstream's keep-alive timeout so
    # the proxy, not the upstream, ends an idle connection (no request races the upstream's close).
    idle_timeout: float = 50.0
    # Extra headers added to every request sent to this target.
    add_headers: tuple[tuple[str, str], ...] = ()
    # Sign requests to this target with an internal credential (strangler.proxy.credentials) as this
    # caller, for this audience (the service's name); the key of the pair is read from the pairwise
    # keys or derived from the root secret, in the environment variables named in the route table.
    credential_caller: str | None = None
    credential_audience: str = ""
    credential_secret_env: str = ""
    credential_keys_env: str = ""
    credential_key: bytes | None = field(default=None, repr=False)


@dataclass(frozen=True, slots=True)
class BreakerPolicy:
    failure_threshold: int = 5  # consecutive failures that open the breaker
    reset_timeout: float = 10.0  # seconds open before one half-open probe is let through
    half_open_max: int = 1  # concurrent probes while half-open


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    attempts: int = 2  # retries after the first try; safe methods only (strangler.proxy.retry.may_resend)
    backoff_base: float = 0.05  # seconds; doubled each retry, full jitter
    backoff_max: float = 1.0


@dataclass(frozen=True, slots=True)
class ShadowPolicy:
    compare_headers: tuple[str, ...] = ("content-type",)
    # JSON paths ignored when comparing bodies, dotted with `*` for any key/index: "id", "items.*.created_at"
    ignore_paths: tuple[str, ...] = ()
    noise_sample: float = 0.1  # share of shadowed requests also replayed to the monolith for noise
    # When set, requests of other methods than GET, HEAD and OPTIONS are mirrored too, with this header so
    # the service does not commit.
    dry_run_header: str | None = None
    max_samples: int = 50  # bounded sample of diffs kept for inspection


@dataclass(frozen=True, slots=True)
class DeadlinePolicy:
    """Total time a request may take, whatever progress it makes (strangler.proxy.deadlines): a body
    sent a byte at a time, or an answer read as slowly, must not hold an upstream worker forever."""

    body: float = 120.0  # seconds from the head to the last request body byte
    response: float = 300.0  # seconds from the head to the last response byte, retries included
    # Responses of these media types are streams (server-sent events): no response deadline, only the
    # target's read_timeout between two chunks, so a healthy stream is never cut.
    stream_types: tuple[str, ...] = ("text/event-stream",)


@dataclass(frozen=True, slots=True)
class TunnelPolicy:
    """Upgraded connections (WebSocket tunnels) of a route (strangler.proxy.tunnel)."""

    upgrades: tuple[str, ...] = ("websocket",)  # Upgrade protocols let through; others are refused
    idle_timeout: float = 300.0  # seconds without a byte either way before the tunnel is closed; 0: none
    max_lifetime: float = 3600.0  # seconds a tunnel may stay open at all; 0: no limit


@dataclass(frozen=True, slots=True)
class CohortKey:
    """Where the sticky canary cohort comes from: a header, a cookie or the client address."""

    source: str  # "header" | "cookie" | "client_ip"
    name: str = ""


@dataclass(frozen=True, slots=True)
class RouteState:
    """The part of a route that operators toggle at run time; durable in the store."""

    mode: Mode = Mode.MONOLITH
    weight: int = 0  # 0-100, meaningful in canary mode


@dataclass(frozen=True, slots=True)
class Route:
    name: str
    prefix: str
    service: str | None  # target name of the extracted service; None for the DEFAULT route
    methods: frozenset[str] | None = None  # None matches every method
    header: tuple[str, str] | None = None  # (lower-case name, exact value) that must be present
    state: RouteState = field(default_factory=RouteState)
    cohort: CohortKey = field(default_factory=lambda: CohortKey("client_ip"))
    fallback: bool = True  # safe requests fall back to the monolith when the service fails
    # The route's upstreams apply a request carrying an Idempotency-Key at most once between them (a
    # repeat, on either side, gets the first answer: the key store is shared, not synced later), so
    # such a write may be retried and fall back like a safe request (strangler.proxy.retry).
    idempotency_key_honoured: bool = False
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    breaker: BreakerPolicy = field(default_factory=BreakerPolicy)
    shadow: ShadowPolicy = field(default_factory=ShadowPolicy)
    deadlines: DeadlinePolicy = field(default_factory=DeadlinePolicy)
    tunnel: TunnelPolicy = field(default_factory=TunnelPolicy)


@dataclass(frozen=True, slots=True)
class Limits:
    max_start_line: int = 8 * 1024
    max_header_bytes: int = 32 * 1024
    max_headers: int = 100
    max_body_bytes: int = 10 * 1024 * 1024
    max_connections: int = 4096
    max_pipelined: int = 32  # requests queued behind the one being answered, per connection
    # Open connections (idle ones too) from one client address; 0: no limit. Behind a front proxy every
    # client shares its address: raise it, or set 0 and limit there.
    max_connections_per_client: int = 256
    keepalive_timeout: float = 75.0
    header_timeout: float = 10.0  # a started request head must be complete within this (slowloris)
    # Open WebSocket tunnels (handshakes under way included), in all and per client address; 0: no limit.
    max_tunnels: int = 1024
    max_tunnels_per_client: int = 64


@dataclass(frozen=True, slots=True)
class RouteTable:
    """Routes ordered longest prefix first; the DEFAULT route is last and matches everything."""

    routes: tuple[Route, ...]
    targets: Mapping[str, Target]

    def with_states(self, states: Mapping[str, RouteState]) -> RouteTable:
        """A copy with run-time states applied; unknown route names are ignored."""
        from dataclasses import replace

        return RouteTable(
            routes=tuple(replace(r, state=states.get(r.name, r.state)) for r in self.routes),
            targets=self.targets,
        )


@dataclass(frozen=True, slots=True)
class Decision:
    route: Route
    side: Side  # who serves the client
    mirror: bool = False  # shadow: also send a copy to the service
    reason: str = ""  # "mode", "canary", "override": why this side, for logs


class RouteControl(Protocol):
    """What the control plane needs from a running proxy to hot-apply a change."""

    def apply_states(self, states: Mapping[str, RouteState]) -> None: ...

    def drain_tunnels(self, route: str, grace: float) -> int:
        """After `grace` seconds, close the route's tunnels its state then sends elsewhere; returns how many
        tunnels the route has open now (strangler.proxy.tunnels)."""


class ClientSink(Protocol):
    """What an exchange needs of the client connection it answers (strangler.proxy.downstream)."""

    transport: asyncio.Transport
    client_ip: str
    closing: bool  # the connection closes after the response being produced
    write_paused: bool  # the client's socket buffer is full
    pause_mask: int  # why reading from the client is paused (PAUSE_* flags), 0 when it is not

    def pause(self, reason: int) -> None:
        """Stop reading from the client for `reason` (a PAUSE_* flag)."""

    def resume(self, reason: int) -> None:
        """`reason` no longer holds; reading resumes when no other one does."""

    def exchange_done(self, ex: Any) -> None:
        """The exchange finished: its response is complete (or abandoned)."""

    def tunnel_started(self) -> bytes:
        """The connection is a tunnel from now on (strangler.proxy.tunnel): what the client sent
        after its upgrade request's head."""

    def connection_lost(self, exc: Exception | None) -> None:
        """The tunnel's client side closed: the connection's bookkeeping (limits, gauges)."""


class TunnelKeeper(Protocol):
    """What a tunnel needs of the registry that holds it (strangler.proxy.tunnels.Tunnels)."""

    loop: asyncio.AbstractEventLoop

    def ended(self, tunnel: Any) -> None:
        """The tunnel closed: free its slot, count it and write its access-log line."""
