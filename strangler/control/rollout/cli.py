"""``strangler rollout start|status|pause|resume|abort``: the same rollout the admin API and the
dashboard show and drive, through the store (so it works with every proxy down; the controller in
the replicas picks it up on its next tick).

    strangler rollout start payments --steps shadow:10m,canary:1:10m,canary:10:10m,canary:50:10m,service \\
        --min-requests 50 --reconcile --reason "cut payments"

``--reconcile`` runs the command the route table names in ``[rollouts.reconcile]`` for the route.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager
from typing import Any

from strangler.control.rollout.actions import rollout_abort, rollout_pause, rollout_resume, rollout_start
from strangler.control.rollout.plan import Analysis, PlanError, plan_from
from strangler.control.rollout.records import Rollout, RolloutRecords
from strangler.control.store import InvalidState, Store

OpenStore = Callable[[argparse.Namespace], AbstractContextManager[Store]]
ReconcileCommands = Callable[[argparse.Namespace], Mapping[str, Sequence[str]]]
EVENTS_SHOWN = 20


def add_rollout_commands(sub: Any, common: argparse.ArgumentParser, *, open_store: OpenStore, actor: str,
                         reconcile_commands: ReconcileCommands) -> None:
    """Register ``rollout`` and its verbs; `open_store(args)` opens the route table's store and
    `reconcile_commands(args)` reads the table's [rollouts.reconcile]."""
    rollout = sub.add_parser("rollout", parents=[common], help="rollouts the proxies drive and judge themselves")
    verbs = rollout.add_subparsers(dest="verb", required=True)
    defaults = Analysis()

    p = verbs.add_parser("start", parents=[common], help="start a rollout of a route")
    p.add_argument("route")
    p.add_argument("--steps", required=True, help="e.g. shadow:10m,canary:1:10m,canary:10:10m,canary:50:10m,service")
    p.add_argument("--interval", help=f"time between judgements (default {defaults.interval:g}s)")
    p.add_argument("--min-requests", type=int, help=f"judged requests a step needs (default {defaults.min_requests})")
    p.add_argument("--max-error-share", type=float, help=f"service 5xx share (default {defaults.max_error_share:g})")
    p.add_argument("--max-p95-ratio", type=float, help=f"service p95 / monolith p95 (default {defaults.max_p95_ratio:g})")
    p.add_argument("--p95-slack", type=float, help=f"seconds a p95 may exceed the monolith's (default {defaults.p95_slack:g})")
    p.add_argument("--max-diff-share", type=float, help=f"shadow differences beyond noise (default {defaults.max_diff_share:g})")
    p.add_argument("--reconcile", action="store_true",
                   help="run the route table's [rollouts.reconcile] command before each step advances (exit 0)")
    p.add_argument("--reconcile-timeout", help=f"default {defaults.reconcile_timeout:g}s")
    p.add_argument("--force", metavar="WHY", default="",
                   help="send the rollout's flips past a refusing flip gate (contracts); each is audited as forced")
    p.add_argument("--reason", required=True)
    p.add_argument("--actor", default=actor)
    p.set_defaults(func=lambda args: _start(args, open_store, reconcile_commands))

    p = verbs.add_parser("status", parents=[common], help="the route's rollout, its step, evidence and decisions")
    p.add_argument("route", nargs="?", help="default: the latest rollouts of every route")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=lambda args: _status(args, open_store))

    for verb, action, text in (("pause", rollout_pause, "hold the route where it is"),
                               ("resume", rollout_resume, "continue a paused rollout (its step is watched afresh)"),
                               ("abort", rollout_abort, "stop it and send the route back to the monolith")):
        p = verbs.add_parser(verb, parents=[common], help=text)
        p.add_argument("route")
        p.add_argument("--reason", required=True)
        p.add_argument("--actor", default=actor)
        p.set_defaults(func=lambda args, action=action: _verb(args, open_store, action))


def _start(args: argparse.Namespace, open_store: OpenStore, reconcile_commands: ReconcileCommands) -> int:
    try:
        plan = plan_from(steps=args.steps, force=args.force, interval=args.interval, min_requests=args.min_requests,
                         max_error_share=args.max_error_share, max_p95_ratio=args.max_p95_ratio,
                         p95_slack=args.p95_slack, max_diff_share=args.max_diff_share,
                         reconcile=args.reconcile,
                         reconcile_timeout=args.reconcile_timeout)
    except PlanError as exc:
        raise InvalidState(str(exc)) from None
    with open_store(args) as store, RolloutRecords(store.url) as records:
        rollout = rollout_start(store=store, records=records, route=args.route, plan=plan, actor=args.actor,
                                reason=args.reason, reconcile_commands=reconcile_commands(args))
    print(f"{rollout.route}: rollout #{rollout.id} started on {rollout.current.label} "
          f"(steps {', '.join(rollout.plan.as_dict()['steps'])}); the proxies' controller drives it from here")
    return 0


def _verb(args: argparse.Namespace, open_store: OpenStore, action: Callable[..., Rollout]) -> int:
    with open_store(args) as store, RolloutRecords(store.url) as records:
        extra = {"store": store} if action is rollout_abort else {}
        rollout = action(records=records, route=args.route, actor=args.actor, reason=args.reason, **extra)
    print(f"{rollout.route}: rollout #{rollout.id} is {rollout.status.value} at step {rollout.step + 1} "
          f"({rollout.current.label})" + (" and the route is back on the monolith" if args.verb == "abort" else ""))
    return 0


def _status(args: argparse.Namespace, open_store: OpenStore) -> int:
    with open_store(args) as store, RolloutRecords(store.url) as records:
        if args.route is None:
            rollouts, events = records.recent(), []
        else:
            one = records.for_route(args.route)
            rollouts = [one] if one else []
            events = records.events(one.id, EVENTS_SHOWN) if one else []
        leader = records.leader()
    if args.json:
        print(json.dumps({"rollouts": [r.as_dict() for r in rollouts], "events": [e.as_dict() for e in events],
                          "leader": leader[0] if leader else None}, indent=1))
        return 0
    if not rollouts:
        print("no rollout yet" + (f" of {args.route}" if args.route else ""))
    for rollout in rollouts:
        last = rollout.progress.get("last") or {}
        steps = " -> ".join(("[" + s.as_text() + "]") if i == rollout.step else s.as_text()
                            for i, s in enumerate(rollout.plan.steps))
        print(f"#{rollout.id} {rollout.route}: {rollout.status.value}, step {rollout.step + 1}/{len(rollout.plan.steps)} "
              f"{steps}\n    last decision: {last.get('verdict', '-')}: {last.get('reason', '-')}")
    for event in events:
        at = dt.datetime.fromtimestamp(event.at, dt.UTC).strftime("%H:%M:%S")
        print(f"  {at} step {event.step + 1} {event.verdict}: {event.reason}")
    print(f"controller leader: {leader[0] if leader else 'none (no proxy replica running?)'}")
    return 0
