"""What a step saw: the proxy replicas' counters for one route, summed over replicas, minus what
they had counted when the step (or the analysis window) began.

Every replica publishes its counters (strangler.proxy.metrics.Snapshot) to the store each tick as flat
``{route: {"service.total": n, ...}}``; replicas restart with new ids, so a replica missing from a
baseline counts from zero (everything it saw since it started).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from strangler.proxy.metrics import LATENCY_BUCKETS, Snapshot, histogram_quantile
from strangler.proxy.types import MONOLITH, Mode, RouteTable

Counters = dict[str, int]  # flat counters of one route on one replica
ReplicaCounters = Mapping[str, Counters]  # replica id -> its counters for one route
_BUCKETS = len(LATENCY_BUCKETS) + 1
SIDES = ("service", "monolith")
SHADOW_KINDS = ("compared", "diffs", "noise")


def counters_of(snapshot: Snapshot, table: RouteTable) -> dict[str, Counters]:
    """One replica's counters for every route that has a service, from a metrics snapshot."""
    out: dict[str, Counters] = {}
    for route in table.routes:
        if route.service is None:
            continue
        flat: Counters = {}
        for side, target in (("service", route.service), ("monolith", MONOLITH)):
            total, errors = snapshot.requests.get((route.name, target), (0, 0))
            flat[f"{side}.total"], flat[f"{side}.5xx"] = total, errors
            for i, n in enumerate(snapshot.latency.get((route.name, target), ())):
                flat[f"{side}.b{i}"] = n
        for kind in SHADOW_KINDS:
            flat[f"shadow.{kind}"] = snapshot.shadow.get((route.name, kind), 0)
        out[route.name] = flat
    return out


def since(current: ReplicaCounters, baseline: ReplicaCounters) -> Counters:
    """Summed over replicas, what each counted after its baseline (never negative)."""
    out: Counters = {}
    for replica, counters in current.items():
        before = baseline.get(replica, {})
        for key, value in counters.items():
            out[key] = out.get(key, 0) + max(0, int(value) - int(before.get(key, 0)))
    return out


@dataclass(frozen=True, slots=True)
class Evidence:
    """The traffic one route saw over some time, on both sides."""

    service_requests: int = 0
    service_errors: int = 0
    service_latency: tuple[int, ...] = (0,) * _BUCKETS
    monolith_requests: int = 0
    monolith_errors: int = 0
    monolith_latency: tuple[int, ...] = (0,) * _BUCKETS
    compared: int = 0  # shadow mirrors compared
    diffs: int = 0  # ... that differed beyond the measured noise
    noise: int = 0  # ... whose differences were on fields that also differ monolith against monolith

    @classmethod
    def of(cls, counters: Mapping[str, int]) -> Evidence:
        def buckets(side: str) -> tuple[int, ...]:
            return tuple(int(counters.get(f"{side}.b{i}", 0)) for i in range(_BUCKETS))

        return cls(
            service_requests=int(counters.get("service.total", 0)),
            service_errors=int(counters.get("service.5xx", 0)),
            service_latency=buckets("service"),
            monolith_requests=int(counters.get("monolith.total", 0)),
            monolith_errors=int(counters.get("monolith.5xx", 0)),
            monolith_latency=buckets("monolith"),
            compared=int(counters.get("shadow.compared", 0)),
            diffs=int(counters.get("shadow.diffs", 0)),
            noise=int(counters.get("shadow.noise", 0)),
        )

    def judged(self, mode: Mode) -> int:
        """The requests a step in `mode` is judged on: mirrors compared in shadow, the service's answers otherwise."""
        return self.compared if mode is Mode.SHADOW else self.service_requests

    @property
    def error_share(self) -> float:
        return self.service_errors / self.service_requests if self.service_requests else 0.0

    @property
    def diff_share(self) -> float:
        return self.diffs / self.compared if self.compared else 0.0

    @property
    def service_p95(self) -> float | None:
        return histogram_quantile(self.service_latency, 0.95)

    @property
    def monolith_p95(self) -> float | None:
        return histogram_quantile(self.monolith_latency, 0.95)

    def figures(self) -> dict[str, float | int | None]:
        """For the audit trail and the dashboard: the numbers a decision was made on."""
        def ms(seconds: float | None) -> float | None:
            return None if seconds is None else round(seconds * 1000, 1)

        return {
            "service_requests": self.service_requests, "service_5xx": self.service_errors,
            "service_5xx_share": round(self.error_share, 4), "service_p95_ms": ms(self.service_p95),
            "monolith_requests": self.monolith_requests, "monolith_p95_ms": ms(self.monolith_p95),
            "shadow_compared": self.compared, "shadow_diffs": self.diffs, "shadow_noise": self.noise,
            "shadow_diff_share": round(self.diff_share, 4),
        }
