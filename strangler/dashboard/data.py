"""What the dashboard shows, as one JSON document: routes with their live numbers, and the audit.

Everything comes from what the admin API already reads (the store, the running proxy's breakers,
shadow report, open tunnels and counters) plus the contract verification record, so the page never knows more
than `strangler routes`, `/metrics` and `/history` together. The admin API hands in the store and
the contracts report (strangler.control): the dashboard imports nothing of the control plane.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol

from strangler.dashboard.traffic import TrafficHistory
from strangler.proxy.types import MONOLITH, BreakerState, Route, RouteState, RouteTable, Side

HISTORY_LIMIT = 50
MAX_RECENT_DIFFS = 10  # per route, newest first
MAX_VALUE_SAMPLES = 10
MAX_NOISY_SHOWN = 20
ROLLOUT_EVENTS = 10  # a rollout's latest decisions, newest first
# The contract state of each service named, as the flip gate sees it (strangler.control.flip_gate).
ContractsReport = Callable[[set[str]], dict[str, dict[str, Any]]]


class AuditEntry(Protocol):
    reason: str

    def as_dict(self) -> dict[str, Any]: ...


class RouteSource(Protocol):
    """What the dashboard reads of the route store (strangler.control.store.Store)."""

    table: RouteTable

    def snapshot(self) -> tuple[int, Mapping[str, RouteState]]: ...
    def history(self, route: str | None, limit: int) -> Sequence[AuditEntry]: ...


class RolloutRecord(Protocol):
    id: int

    def as_dict(self) -> dict[str, Any]: ...


class RolloutSource(Protocol):
    """What the dashboard reads of the rollouts (strangler.control.rollout.records.RolloutRecords)."""

    def for_route(self, route: str) -> RolloutRecord | None: ...
    def events(self, rollout_id: int, limit: int = ...) -> Sequence[AuditEntry]: ...


class DashboardSource(Protocol):
    """What the dashboard reads from the running proxy (strangler.proxy.server.ProxyServer)."""

    def breaker_states(self) -> Mapping[str, BreakerState]: ...
    def shadow_report(self) -> Mapping[str, Any]: ...
    def tunnels_open(self) -> Mapping[tuple[str, str], int]: ...


async def dashboard_data(
    store: RouteSource, proxy: DashboardSource, traffic: TrafficHistory, contracts_record: str | None,
    contracts_report: ContractsReport, history_limit: int = HISTORY_LIMIT,
    backends: Mapping[str, Any] | None = None, rollouts: RolloutSource | None = None,
) -> dict[str, Any]:
    version, states = await asyncio.to_thread(store.snapshot)
    history = await asyncio.to_thread(store.history, None, history_limit)
    services = {r.service for r in store.table.routes if r.service}
    contracts = await asyncio.to_thread(contracts_report, services)
    breakers = proxy.breaker_states()
    shadow = proxy.shadow_report()
    tunnels = proxy.tunnels_open()
    applied = getattr(proxy, "table", None)
    in_force = {r.name: r.state for r in applied.routes} if applied is not None else {}
    routes = store.table.routes
    traffic_view = traffic.view((r.name, _targets(r)) for r in routes)
    out = []
    for route in routes:
        state = states.get(route.name, route.state)
        out.append({
            "name": route.name,
            "prefix": route.prefix,
            "service": route.service,
            "mode": state.mode.value,
            "weight": state.weight,
            "applied": in_force.get(route.name, state) == state,  # this replica already serves it
            "breakers": {t: breakers[t].value for t in _targets(route) if t in breakers},
            "traffic": traffic_view.get(route.name, {}),
            "shadow": _shadow(shadow.get(route.name)),
            # Open WebSocket tunnels per side: a flip moves new ones only (strangler.proxy.tunnels).
            "tunnels": {side.value: tunnels.get((route.name, side.value), 0) for side in Side},
            "contracts": contracts.get(route.service) if route.service else None,
            "rollout": await asyncio.to_thread(_rollout, rollouts, route.name) if route.service else None,
        })
    return {
        "generated_at": time.time(),
        "store_version": version,
        "contracts_record": contracts_record,
        "routes": out,
        "history": [{**e.as_dict(), "forced": "[forced past:" in e.reason} for e in history],
        "backends": dict(backends or {}),  # strangler.dashboard.backends: each service's kit status
    }


def _rollout(rollouts: RolloutSource | None, route: str) -> dict[str, Any] | None:
    """The route's active (else latest) rollout with its latest decisions; None without one."""
    rollout = rollouts.for_route(route) if rollouts is not None else None
    if rollout is None:
        return None
    return {**rollout.as_dict(), "events": [e.as_dict() for e in rollouts.events(rollout.id, ROLLOUT_EVENTS)]}


def _targets(route: Route) -> tuple[str, ...]:
    return (MONOLITH, route.service) if route.service else (MONOLITH,)


def _shadow(report: Any) -> dict[str, Any] | None:
    """Totals since the proxy started, noisy fields, and bounded samples; None when never shadowed."""
    if not isinstance(report, Mapping):
        return None
    totals = {k: report.get(k, 0) for k in ("compared", "diffs", "noise", "dropped", "errors")}
    recent = list(report.get("recent", ()))[-MAX_RECENT_DIFFS:]
    values = list(report.get("samples", ()))[-MAX_VALUE_SAMPLES:]
    return {
        "total": totals,
        "noisy_fields": list(report.get("noisy_fields", ()))[:MAX_NOISY_SHOWN],
        "recent": recent[::-1],
        "values": values[::-1],
    }
