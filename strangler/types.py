"""Shared vocabulary of the strangler: routes, modes, targets and decisions.

Everything here is plain data. The route table file is parsed into these (config.py), the
control plane stores and changes ``RouteState`` (store.py), and the data plane turns a request
plus a ``RouteTable`` into a ``Decision`` (routing.py).
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol

MONOLITH = "monolith"  # name of the target every table must define; the DEFAULT route uses it
DEFAULT_ROUTE = "DEFAULT"


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
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})


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
    # Sign requests to this target with an internal credential (strangler.credentials) as this
    # caller; the secret is read from the environment variable named in the route table.
    credential_caller: str | None = None
    credential_secret_env: str = ""
    credential_secret: bytes | None = field(default=None, repr=False)


@dataclass(frozen=True, slots=True)
class BreakerPolicy:
    failure_threshold: int = 5  # consecutive failures that open the breaker
    reset_timeout: float = 10.0  # seconds open before one half-open probe is let through
    half_open_max: int = 1  # concurrent probes while half-open


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    attempts: int = 2  # retries after the first try; idempotent methods only
    backoff_base: float = 0.05  # seconds; doubled each retry, full jitter
    backoff_max: float = 1.0


@dataclass(frozen=True, slots=True)
class ShadowPolicy:
    compare_headers: tuple[str, ...] = ("content-type",)
    # JSON paths ignored when comparing bodies, dotted with `*` for any key/index: "id", "items.*.created_at"
    ignore_paths: tuple[str, ...] = ()
    noise_sample: float = 0.1  # share of shadowed requests also replayed to the monolith for noise
    # When set, non-idempotent requests are mirrored with this header so the service does not commit.
    dry_run_header: str | None = None
    max_samples: int = 50  # bounded sample of diffs kept for inspection


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
    fallback: bool = True  # idempotent requests fall back to the monolith when the service fails
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    breaker: BreakerPolicy = field(default_factory=BreakerPolicy)
    shadow: ShadowPolicy = field(default_factory=ShadowPolicy)


@dataclass(frozen=True, slots=True)
class Limits:
    max_start_line: int = 8 * 1024
    max_header_bytes: int = 32 * 1024
    max_headers: int = 100
    max_body_bytes: int = 10 * 1024 * 1024
    max_connections: int = 4096
    keepalive_timeout: float = 75.0
    header_timeout: float = 10.0  # a started request head must be complete within this (slowloris)


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
