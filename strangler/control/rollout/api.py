"""The admin API's rollout endpoints (mounted by strangler.control.admin under ``/rollouts``):

- ``GET /rollouts``: the latest rollouts and the controller's current leader;
- ``GET /rollouts/<route>``: the route's active (else latest) rollout and its decisions, newest first;
- ``POST /rollouts/<route>``: start one, ``{"steps": "shadow:10m,canary:10:10m,service", "reason": ...,
  "analysis": {"interval": 30, "min_requests": 50, "reconcile": true, ...}}`` (``reconcile`` runs the
  command the route table names for the route: a caller of this API never sends a command; ``"force":
  "why"`` sends its flips past a refusing flip gate, each audited as forced);
- ``POST /rollouts/<route>/pause|resume|abort``: ``{"reason": ...}``.

Answers are ``(status, JSON payload)``; errors raise the store's exceptions, which the admin API
turns into 400/404/409 with a JSON body.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from typing import Any

from strangler.control.rollout.actions import rollout_abort, rollout_pause, rollout_resume, rollout_start
from strangler.control.rollout.plan import PlanError, plan_from
from strangler.control.rollout.records import RolloutRecords
from strangler.control.store import InvalidState, Store

EVENTS_SHOWN = 50
_VERBS = {"pause": rollout_pause, "resume": rollout_resume}


async def rollout_endpoint(method: str, parts: list[str], payload: dict[str, Any] | None, *, store: Store,
                           records: RolloutRecords, actor: str,
                           reconcile_commands: Mapping[str, Sequence[str]] | None = None) -> tuple[int, dict[str, Any]]:
    match parts:
        case ["rollouts"] if method == "GET":
            recent = await asyncio.to_thread(records.recent)
            leader = await asyncio.to_thread(records.leader)
            return 200, {"rollouts": [r.as_dict() for r in recent],
                         "leader": None if leader is None else {"replica": leader[0], "expires_at": leader[1]}}
        case ["rollouts", route] if method == "GET":
            rollout = await asyncio.to_thread(records.for_route, route)
            if rollout is None:
                return 404, {"error": f"route {route!r} has had no rollout"}
            events = await asyncio.to_thread(records.events, rollout.id, EVENTS_SHOWN)
            return 200, {"rollout": rollout.as_dict(), "events": [e.as_dict() for e in events]}
        case ["rollouts", route] if method == "POST":
            body = payload or {}
            analysis = body.get("analysis", {})
            if not isinstance(analysis, dict):
                raise InvalidState("analysis must be a JSON object")
            try:
                plan = plan_from(steps=body.get("steps"), force=body.get("force", ""), **analysis)
            except PlanError as exc:
                raise InvalidState(str(exc)) from None
            rollout = await asyncio.to_thread(rollout_start, store=store, records=records, route=route, plan=plan,
                                              actor=actor, reason=body.get("reason"),
                                              reconcile_commands=reconcile_commands)
            return 201, {"rollout": rollout.as_dict()}
        case ["rollouts", route, "abort"] if method == "POST":
            rollout = await asyncio.to_thread(rollout_abort, store=store, records=records, route=route, actor=actor,
                                              reason=(payload or {}).get("reason"))
            return 200, {"rollout": rollout.as_dict()}
        case ["rollouts", route, verb] if method == "POST" and verb in _VERBS:
            rollout = await asyncio.to_thread(_VERBS[verb], records=records, route=route, actor=actor,
                                              reason=(payload or {}).get("reason"))
            return 200, {"rollout": rollout.as_dict()}
        case ["rollouts"] | ["rollouts", _] | ["rollouts", _, "abort" | "pause" | "resume"]:
            return 405, {"error": f"method {method} not allowed here"}
    return 404, {"error": "no such endpoint"}
