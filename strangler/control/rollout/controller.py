"""The rollout controller: a loop in every proxy replica. Each tick every replica publishes its
counters; one of them holds the lease and, in a worker thread, looks at every running rollout:
writes a flip left pending, waits out the analysis interval, judges the step on what all replicas
saw (strangler.control.rollout.judge), and watches, holds, advances or rolls back, auditing each
decision with its figures. The lease is renewed on the event loop while the worker judges (a
reconcile command may run for minutes); a leader that stops resigns it, one that dies loses it
after ``lease`` seconds, and its successor continues from the same step, since everything the
controller knows lives in the store.
"""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import socket
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from strangler.control.rollout.actions import MONOLITH_STATE, forced_note, rollout_write_pending
from strangler.control.rollout.evidence import Evidence, counters_of, since
from strangler.control.rollout.judge import LATENCY_MIN_SAMPLES, Decision, Verdict, judge
from strangler.control.rollout.plan import Analysis, Status
from strangler.control.rollout.records import LostLease, Rollout, RolloutConflict, RolloutRecords
from strangler.control.store import FlipRefused, Store
from strangler.proxy.metrics import Snapshot
from strangler.proxy.types import RouteTable

log = logging.getLogger("strangler.rollouts")

RECONCILE_OUTPUT = 400  # characters of a failing reconcile's output kept in the audit


class Stopping(Exception):
    """The proxy stops while the leader works: leave the rollout as it is for the next leader."""


def replica_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"


class RolloutController:
    def __init__(
        self,
        *,
        store: Store,
        records: RolloutRecords,
        table: RouteTable,
        snapshot: Callable[[], Snapshot],
        tick: float = 1.0,
        lease: float = 5.0,
        replica: str | None = None,
        reconcile_commands: Mapping[str, Sequence[str]] | None = None,
    ) -> None:
        self.store = store
        self.records = records
        self.table = table
        self.snapshot = snapshot  # the proxy's metrics, read on the event loop
        self.tick = tick
        self.lease = lease
        self.replica = replica or replica_id()
        self.reconcile_commands = dict(reconcile_commands or {})  # the route table's, per route
        self.actor = f"rollout-controller@{self.replica}"
        self.leading = False
        self._task: asyncio.Task[None] | None = None
        self._work: asyncio.Future[None] | None = None
        self._stopping = False
        self._reconcile: subprocess.Popen[str] | None = None  # running now, killed if the proxy stops

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="rollout-controller")

    async def close(self) -> None:
        self._stopping = True
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        running = self._reconcile
        if running is not None and running.poll() is None:
            running.kill()  # a stopping proxy does not wait minutes for a reconcile: the next leader runs it again
        if self._work is not None:
            await asyncio.gather(self._work, return_exceptions=True)
        if self.leading:
            try:
                await asyncio.to_thread(self.records.resign, self.replica)
            except Exception:  # noqa: BLE001 - the lease expires by itself
                log.warning("could not resign the rollout lease; it expires in %.0f s", self.lease)

    async def _run(self) -> None:
        while True:
            try:
                counters = counters_of(self.snapshot(), self.table)
                leading = await asyncio.to_thread(self._publish_and_lead, counters)
                if leading != self.leading:
                    log.info("rollouts: %s %s", self.replica, "leads" if leading else "no longer leads")
                self.leading = leading
                if leading and (self._work is None or self._work.done()):
                    self._work = asyncio.ensure_future(asyncio.to_thread(self.work))
            except Exception as exc:  # noqa: BLE001 - the store may be down for a moment; try again next tick
                log.warning("rollout controller tick failed: %s: %s", type(exc).__name__, exc)
                self.leading = False
            await asyncio.sleep(self.tick)

    def _publish_and_lead(self, counters: dict[str, dict[str, int]]) -> bool:
        self.records.publish(self.replica, counters)
        return self.records.lead(self.replica, self.lease)

    # -- the leader's work, in a thread --------------------------------------------------
    def work(self) -> None:
        for rollout in self.records.needing_work():
            try:
                self.step(rollout)
            except (LostLease, Stopping) as exc:
                log.info("rollouts: %s; the next leader continues", exc)
                return
            except RolloutConflict as exc:  # an operator paused or aborted it meanwhile
                log.info("rollouts: %s", exc)
            except Exception:  # noqa: BLE001 - one rollout's trouble must not stop the others
                log.exception("rollout #%s: step failed; trying again next tick", rollout.id)

    def step(self, rollout: Rollout) -> None:
        if rollout.pending is not None:
            rollout_write_pending(store=self.store, records=self.records, rollout=rollout, actor=self.actor,
                                  fence=self.replica)
            return
        if rollout.status is not Status.RUNNING:
            return
        state = self.store.states().get(rollout.route)
        if state != rollout.current.state:
            self._moved(rollout, state)
            return
        now = time.time()
        progress = rollout.progress
        elapsed = now - rollout.step_started_at
        last = (progress.get("last") or {}).get("verdict")
        if rollout.step == len(rollout.plan.steps) - 1 and not rollout.current.seconds:
            self._succeed(rollout, f"reached {rollout.current.label}", {})
            return
        due = now - float(progress.get("window_started_at", 0)) >= rollout.plan.analysis.interval
        if not due and not (elapsed >= rollout.current.seconds and last in (None, Verdict.WATCH.value)):
            return
        counters = self.records.counters(rollout.route)
        step_seen = Evidence.of(since(counters, progress.get("step_baseline", {})))
        window_seen = Evidence.of(since(counters, progress.get("window_baseline", {})))
        analysis = rollout.plan.analysis
        monolith_p95 = progress.get("monolith_p95")
        if window_seen.monolith_requests >= max(analysis.min_requests, LATENCY_MIN_SAMPLES) \
                and window_seen.monolith_p95 is not None:
            monolith_p95 = window_seen.monolith_p95
        decision = judge(rollout.current, analysis, step_seen=step_seen, window_seen=window_seen, elapsed=elapsed,
                         monolith_p95=monolith_p95)
        if decision.verdict is Verdict.ADVANCE and analysis.reconcile:
            decision = self._reconciled(decision, analysis, self.reconcile_commands.get(rollout.route))
        progress = {**progress, "window_baseline": counters, "window_started_at": now, "monolith_p95": monolith_p95,
                    "last": {"verdict": decision.verdict.value, "reason": decision.reason, "at": now,
                             "figures": decision.figures}}
        if decision.verdict is Verdict.ROLLBACK:
            log.warning("rollout #%s: rolling back: %s", rollout.id, decision.reason)
            rolled = self._change(rollout, decision, status=Status.ROLLED_BACK, pending=MONOLITH_STATE,
                                  progress=progress)
            rollout_write_pending(store=self.store, records=self.records, rollout=rolled, actor=self.actor,
                                  fence=self.replica)
        elif decision.verdict is Verdict.ADVANCE:
            self._advance(rollout, decision, progress, counters, now)
        else:  # watch or hold: audited when the verdict changes, the figures kept for status either way
            self._change(rollout, decision, audit=decision.verdict.value != last, progress=progress)

    def _advance(self, rollout: Rollout, decision: Decision, progress: dict[str, Any],
                 counters: dict[str, Any], now: float) -> None:
        if rollout.step == len(rollout.plan.steps) - 1:
            self._succeed(rollout, decision.reason, decision.figures, progress)
            return
        following = rollout.plan.steps[rollout.step + 1]
        try:  # the flip first, through the store's guard (contracts); the rollout moves only if it is written
            self.store.set_state(rollout.route, following.state, actor=self.actor, force=bool(rollout.plan.force),
                                 reason=f"rollout #{rollout.id}: {decision.reason}; next {following.label}"
                                 f"{forced_note(rollout.plan)}")
        except FlipRefused as refusal:
            held = Decision(Verdict.HOLD, f"{following.label} refused by the flip gate: {refusal}", decision.figures)
            progress = {**progress, "last": {**progress["last"], "verdict": held.verdict.value, "reason": held.reason}}
            self._change(rollout, held, audit=(rollout.progress.get("last") or {}).get("reason") != held.reason,
                         progress=progress)
            return
        progress = {**progress, "step_baseline": counters}
        log.info("rollout #%s: %s -> %s", rollout.id, rollout.current.label, following.label)
        self._change(rollout, decision, step=rollout.step + 1, step_started_at=now, progress=progress)

    def _moved(self, rollout: Rollout, state: Any) -> None:
        """The route is not where the rollout's step puts it."""
        following = rollout.step + 1
        if following < len(rollout.plan.steps) and rollout.plan.steps[following].state == state:
            # The leader before flipped to the next step and stopped before recording it: record it now.
            counters = self.records.counters(rollout.route)
            now = time.time()
            progress = {**rollout.progress, "step_baseline": counters, "window_baseline": counters,
                        "window_started_at": now}
            self._change(rollout, Decision(Verdict.ADVANCE, "the route was already on the next step (the previous "
                                           "leader flipped it, then stopped)"), step=following, step_started_at=now,
                         progress=progress)
            return
        reason = (f"route moved to {state.mode.value if state else 'unknown'}"
                  f"{f' {state.weight}%' if state and state.weight and state.weight < 100 else ''} by hand, "
                  f"not by the rollout: paused (resume puts it back on {rollout.current.label})")
        log.warning("rollout #%s: %s", rollout.id, reason)
        self.records.change(rollout, actor=self.actor, verdict="paused", reason=reason, fence=self.replica,
                            status=Status.PAUSED, progress={**rollout.progress, "last": {"verdict": "paused",
                                                                                       "reason": reason}})

    def _succeed(self, rollout: Rollout, reason: str, figures: dict[str, Any],
                 progress: dict[str, Any] | None = None) -> None:
        log.info("rollout #%s: succeeded: %s", rollout.id, reason)
        progress = {**(progress or rollout.progress), "last": {"verdict": "succeeded", "reason": reason}}
        self.records.change(rollout, actor=self.actor, verdict="succeeded", reason=reason, evidence=figures,
                            fence=self.replica, status=Status.SUCCEEDED, progress=progress)

    def _reconciled(self, decision: Decision, analysis: Analysis, command: Sequence[str] | None) -> Decision:
        """The step passed on traffic; it advances only if the reconcile command says both stores agree.
        A command that cannot run or does not finish says nothing either way: the step holds."""
        if not command:
            return Decision(Verdict.HOLD, "holding: the plan reconciles, but this replica's route table has no "
                            "[rollouts.reconcile] command for the route", decision.figures)
        shown = " ".join(command)
        try:
            self._reconcile = subprocess.Popen(list(command), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                               text=True)
            output, _ = self._reconcile.communicate(timeout=analysis.reconcile_timeout)
        except subprocess.TimeoutExpired:
            self._reconcile.kill()
            self._reconcile.communicate()
            return Decision(Verdict.HOLD, f"holding: reconcile {shown!r} did not finish in "
                            f"{analysis.reconcile_timeout:g} s", decision.figures)
        except OSError as exc:
            return Decision(Verdict.HOLD, f"holding: reconcile {shown!r} could not run: {exc}", decision.figures)
        if self._stopping:
            raise Stopping("the proxy is stopping: reconcile interrupted")
        code = self._reconcile.returncode
        if code != 0:
            return Decision(Verdict.ROLLBACK, f"reconcile exited {code}: {output.strip()[-RECONCILE_OUTPUT:]}",
                            decision.figures)
        return Decision(decision.verdict, f"{decision.reason}; reconcile clean", decision.figures)

    def _change(self, rollout: Rollout, decision: Decision, *, audit: bool = True, **fields: Any) -> Rollout:
        return self.records.change(rollout, actor=self.actor, verdict=decision.verdict.value, reason=decision.reason,
                                   evidence=decision.figures, fence=self.replica, audit=audit, **fields)
