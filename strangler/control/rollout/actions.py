"""The operator's verbs on a rollout (start, pause, resume, abort) and the one way a decided flip
reaches the route: shared by the CLI, the admin API and the controller, so each drives the same
rollout the same way.

A flip back to the monolith (an abort, a failed check) is recorded as pending in the rollout first
and written to the route after: if the writer dies in between, whoever leads next writes it.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any

from strangler.control.rollout.plan import Plan, Status
from strangler.control.rollout.records import Rollout, RolloutConflict, RolloutRecords
from strangler.control.store import InvalidState, Store, UnknownRoute
from strangler.proxy.types import Mode, RouteState

MONOLITH_STATE = RouteState(Mode.MONOLITH, 0)


def rollout_start(*, store: Store, records: RolloutRecords, route: str, plan: Plan, actor: str, reason: str,
                  reconcile_commands: Mapping[str, Sequence[str]] | None = None) -> Rollout:
    """Start a rollout of `route` and flip it to the first step (the store's guard asks as for any flip).
    A plan that reconciles needs the route table's command for the route (`reconcile_commands`)."""
    target = next((r for r in store.table.routes if r.name == route), None)
    if target is None:
        raise UnknownRoute(f"unknown route {route!r} (known: {', '.join(r.name for r in store.table.routes)})")
    if target.service is None:
        raise InvalidState(f"route {route!r} has no service to roll out")
    if plan.analysis.reconcile and route not in (reconcile_commands or {}):
        raise InvalidState(f"the plan reconciles, but the route table has no [rollouts.reconcile] {route} command")
    rollout = records.start(route, plan, actor=actor, reason=_required(reason))
    try:
        return rollout_write_pending(store=store, records=records, rollout=rollout, actor=actor)
    except Exception as exc:  # the first flip was refused: the rollout did not start
        records.change(rollout, actor=actor, verdict="aborted", reason=f"the first flip failed: {exc}",
                       status=Status.ABORTED, pending=None)
        raise


def rollout_pause(*, records: RolloutRecords, route: str, actor: str, reason: str) -> Rollout:
    rollout = _active(records, route)
    if rollout.status is not Status.RUNNING:
        raise RolloutConflict(f"rollout #{rollout.id} is {rollout.status.value}, not running")
    return records.change(rollout, actor=actor, verdict="paused", reason=_required(reason), status=Status.PAUSED)


def rollout_resume(*, records: RolloutRecords, route: str, actor: str, reason: str) -> Rollout:
    """Resume where it paused; the step is watched afresh (its time and evidence start again)."""
    rollout = _active(records, route)
    if rollout.status is not Status.PAUSED:
        raise RolloutConflict(f"rollout #{rollout.id} is {rollout.status.value}, not paused")
    now = time.time()
    counters = records.counters(route)
    progress = {**rollout.progress, "step_baseline": counters, "window_baseline": counters, "window_started_at": now}
    return records.change(rollout, actor=actor, verdict="resumed", reason=_required(reason), status=Status.RUNNING,
                          step_started_at=now, progress=progress)


def rollout_abort(*, store: Store, records: RolloutRecords, route: str, actor: str, reason: str) -> Rollout:
    """Stop the rollout and send the route back to the monolith at once."""
    rollout = _active(records, route)
    reason = _required(reason)
    last = {"verdict": "aborted", "reason": reason, "at": time.time()}
    rollout = records.change(rollout, actor=actor, verdict="aborted", reason=reason, status=Status.ABORTED,
                             pending=MONOLITH_STATE, progress={**rollout.progress, "last": last})
    return rollout_write_pending(store=store, records=records, rollout=rollout, actor=actor)


def rollout_write_pending(*, store: Store, records: RolloutRecords, rollout: Rollout, actor: str,
                          fence: str | None = None) -> Rollout:
    """Write the rollout's pending flip to the route, then clear it."""
    if rollout.pending is None:
        return rollout
    if store.states().get(rollout.route) != rollout.pending:
        store.set_state(rollout.route, rollout.pending, actor=actor, reason=flip_reason(rollout),
                        force=bool(rollout.plan.force))
    return records.change(rollout, actor=actor, verdict="flipped", reason="", fence=fence, audit=False, pending=None)


def flip_reason(rollout: Rollout) -> str:
    """The audit reason of a flip the rollout makes: what it did and the reason of its last decision."""
    why = (rollout.progress.get("last") or {}).get("reason")
    what = {Status.ABORTED: "aborted", Status.ROLLED_BACK: "rolled back"}.get(rollout.status, rollout.current.label)
    return f"rollout #{rollout.id} {what}" + (f": {why}" if why else "") + forced_note(rollout.plan)


def forced_note(plan: Plan) -> str:
    """Appended to the reason of a flip that may go past the gate (the store adds the refusal it overrode)."""
    return f" (forced: {plan.force})" if plan.force else ""


def _active(records: RolloutRecords, route: str) -> Rollout:
    rollout = records.for_route(route)
    if rollout is None or not rollout.status.active:
        raise RolloutConflict(f"route {route!r} has no running or paused rollout")
    return rollout


def _required(reason: Any) -> str:
    if not isinstance(reason, str) or not reason.strip():
        raise InvalidState("reason is required: say why")
    return reason.strip()
