"""Sync-gated flips: a route leaves the monolith (shadow, canary, service) only while the monolith
sends that context's snapshots somewhere.

During a cutover both stores write; each tells the other through its snapshot events. A monolith
whose ``OUTBOX_ROUTES`` sends them nowhere (an unset queue setting) drops them without a word: the
service would never hear of the monolith's writes, and reconcile would notice only later. The
monolith's kit status (strangler.django.status, ``sync``) says where each snapshot event goes; this
guard asks it at every flip away from the monolith and refuses, naming the setting, when one goes
nowhere or the monolith cannot say. Going back to the monolith is never gated. Active when the
route table has ``[admin] status_credential`` (the credential the question is signed with).
"""

from __future__ import annotations

import asyncio
from typing import Any

from strangler.control.store import FlipRefused, Guard
from strangler.dashboard.backends import backends_from
from strangler.proxy.types import MONOLITH, Mode, Route, RouteState


def sync_guard(config: Any) -> Guard | None:
    """The guard, or None when the table has no status credential."""
    backends = backends_from(None, config)
    if MONOLITH not in backends.targets:
        return None

    def guard(route: Route, current: RouteState, new: RouteState) -> None:
        if route.service is None or new.mode is Mode.MONOLITH:
            return
        status = asyncio.run(backends.fetch(MONOLITH))
        where = f"route {route.name!r} cannot go to {new.mode.value}"
        if not status.ok:
            raise FlipRefused(f"{where}: the monolith's kit status did not answer ({status.error}), so nothing "
                              f"says it sends {route.name}'s snapshots to the service; pass --force with a --reason")
        sync = (status.counts.get("sync") or {}).get(route.name)
        if not isinstance(sync, dict):
            return  # the monolith does not sync this context with the kit: nothing of it to check
        nowhere = sorted(event for event, queues in sync.items() if not queues)
        if nowhere:
            raise FlipRefused(f"{where}: the monolith sends {', '.join(nowhere)} nowhere, so the service would "
                              f"never see the monolith's writes; set OUTBOX_ROUTES[{nowhere[0]!r}] in the "
                              f"monolith's settings to the service's queue, or pass --force with a --reason")

    return guard
