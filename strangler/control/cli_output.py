"""What the `strangler` command prints: audit entries, drains, route states, times and tables; and
the breaker states it asks a running proxy's admin API for (the store does not know them)."""

from __future__ import annotations

import datetime as dt
import http.client
import json
import os
from typing import Any

from strangler.control.store import AuditEntry, DrainRequest
from strangler.proxy.config import ProxyConfig
from strangler.proxy.types import Mode, RouteState


def live_breakers(config: ProxyConfig) -> dict[str, str]:
    """Breaker state per route from a running proxy's admin API; {} when none answers."""
    token = os.environ.get(config.admin_token_env, "")
    if not token:
        return {}
    host = "127.0.0.1" if config.admin_host in ("0.0.0.0", "") else config.admin_host
    conn = http.client.HTTPConnection(host, config.admin_port, timeout=1.0)
    try:
        conn.request("GET", "/routes", headers={"Authorization": f"Bearer {token}"})
        response = conn.getresponse()
        if response.status != 200:
            return {}
        payload: Any = json.loads(response.read())
        return {r["name"]: r["breaker"] or "unknown" for r in payload["routes"]}
    except (OSError, ValueError, KeyError, TypeError, http.client.HTTPException):
        return {}
    finally:
        conn.close()


def describe_drain(drain: DrainRequest) -> str:
    return (f"{drain.route}: drain #{drain.id} in {drain.grace:g}s by {drain.actor}: every replica then closes the "
            f"tunnels the route's state sends to the other side (WebSocket code 1012): {drain.reason}")


def describe(entry: AuditEntry) -> str:
    return (
        f"{entry.route}: {state_text(entry.from_state)} -> {state_text(entry.to_state)} "
        f"by {entry.actor} at {when(entry.at)} (audit #{entry.id}): {entry.reason}"
    )


def state_text(state: RouteState | None) -> str:
    if state is None:
        return "(new)"
    return f"canary {state.weight}%" if state.mode is Mode.CANARY else state.mode.value


def when(at: float) -> str:
    return dt.datetime.fromtimestamp(at, dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")[:-4] + "Z"


def table_print(rows: list[dict[str, Any]], columns: list[str]) -> None:
    widths = {c: max([len(c)] + [len(str(r[c])) for r in rows]) for c in columns}
    print("  ".join(c.upper().ljust(widths[c]) for c in columns).rstrip())
    for row in rows:
        print("  ".join(str(row[c]).ljust(widths[c]) for c in columns).rstrip())
