"""What the dashboard shows, as one JSON document: routes with their live numbers, and the audit.

Everything comes from what the admin API already reads (the store, the running proxy's breakers,
shadow report and counters) plus the contract verification record, so the page never knows more
than `strangler routes`, `/metrics` and `/history` together.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from typing import Any, Protocol

from strangler.contracts import ContractRecordError, contract_status, verifications_read
from strangler.dashboard_traffic import TrafficHistory
from strangler.store import Store
from strangler.types import MONOLITH, BreakerState, Route

HISTORY_LIMIT = 50
MAX_RECENT_DIFFS = 10  # per route, newest first
MAX_VALUE_SAMPLES = 10
MAX_NOISY_SHOWN = 20
NOT_GATED = "not gated"


class DashboardSource(Protocol):
    """What the dashboard reads from the running proxy (strangler.server.ProxyServer)."""

    def breaker_states(self) -> Mapping[str, BreakerState]: ...
    def shadow_report(self) -> Mapping[str, Any]: ...


async def dashboard_data(
    store: Store, proxy: DashboardSource, traffic: TrafficHistory, contracts_record: str | None,
    history_limit: int = HISTORY_LIMIT,
) -> dict[str, Any]:
    version, states = await asyncio.to_thread(store.snapshot)
    history = await asyncio.to_thread(store.history, None, history_limit)
    services = {r.service for r in store.table.routes if r.service}
    contracts = await asyncio.to_thread(_contracts, contracts_record, services)
    breakers = proxy.breaker_states()
    shadow = proxy.shadow_report()
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
            "contracts": contracts.get(route.service) if route.service else None,
        })
    return {
        "generated_at": time.time(),
        "store_version": version,
        "contracts_record": contracts_record,
        "routes": out,
        "history": [{**e.as_dict(), "forced": "[forced past:" in e.reason} for e in history],
    }


def _targets(route: Route) -> tuple[str, ...]:
    return (MONOLITH, route.service) if route.service else (MONOLITH,)


def _contracts(record: str | None, services: set[str]) -> dict[str, dict[str, Any]]:
    if not record:
        message = "no [contracts] record in the route table: flips are not gated"
        return {s: {"service": s, "state": NOT_GATED, "message": message, "latest": []} for s in services}
    try:
        verifications = verifications_read(record)
    except ContractRecordError as exc:
        return {s: {"service": s, "state": "error", "message": str(exc), "latest": []} for s in services}
    return {s: contract_status(verifications, s).as_dict() for s in services}


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
