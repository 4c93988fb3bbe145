"""Rollouts in the route store's database: each rollout and its progress, the audit of every
decision with its evidence, the controller's leader lease, and every replica's published counters.

Its own connection to the same database as strangler.control.store (SQLite file or PostgreSQL), with
the same write serialisation (strangler.control.store_backends), so a rollout changed by the CLI in
one process and by the controller in a replica never interleave. A write by the controller is
fenced by its lease: a leader that lost the lease (paused, partitioned) cannot move a rollout.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, replace
from typing import Any

from strangler.control.rollout.evidence import Counters
from strangler.control.rollout.plan import Plan, Status, Step
from strangler.control.rollout.schema import schema_create
from strangler.control.store_connection import StoreConnection, StoreError
from strangler.proxy.types import Mode, RouteState

COUNTERS_KEPT = 24 * 3600.0  # seconds a stopped replica's counters are kept
_INSERTED = ("route, status, plan, step, step_started_at, progress, pending_mode, pending_weight, actor, reason, "
             "created_at, updated_at")
_COLUMNS = f"id, {_INSERTED}"


class RolloutConflict(StoreError):
    """The rollout is not in the state the change expected (another writer moved it first)."""


class LostLease(StoreError):
    """The controller no longer leads: another replica took the lease."""


@dataclass(frozen=True, slots=True)
class Rollout:
    id: int
    route: str
    status: Status
    plan: Plan
    step: int  # index into plan.steps
    step_started_at: float  # unix time
    progress: dict[str, Any]  # baselines, the analysis window, the remembered monolith p95, the last decision
    pending: RouteState | None  # a flip decided and maybe not written yet: whoever leads writes it
    actor: str
    reason: str
    created_at: float
    updated_at: float

    @property
    def current(self) -> Step:
        return self.plan.steps[self.step]

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id, "route": self.route, "status": self.status.value, "step": self.step,
            "steps": self.plan.as_dict()["steps"], "current": self.current.as_text(),
            "step_started_at": self.step_started_at, "analysis": self.plan.as_dict()["analysis"],
            "last": self.progress.get("last"), "pending": None if self.pending is None else
            {"mode": self.pending.mode.value, "weight": self.pending.weight},
            "actor": self.actor, "reason": self.reason, "created_at": self.created_at, "updated_at": self.updated_at,
        }


@dataclass(frozen=True, slots=True)
class Event:
    id: int
    rollout: int
    at: float
    actor: str
    step: int
    verdict: str
    reason: str
    evidence: dict[str, Any]

    def as_dict(self) -> dict[str, Any]:
        return {"id": self.id, "rollout": self.rollout, "at": self.at, "actor": self.actor, "step": self.step,
                "verdict": self.verdict, "reason": self.reason, "evidence": self.evidence}


class RolloutRecords(StoreConnection):
    """Thread-safe; every call is one short transaction."""

    what = "the rollout records"

    def open(self) -> RolloutRecords:
        with self._lock:
            self._conn = self._backend.connect()
            schema_create(self._backend, self._conn)
        return self

    # -- rollouts ------------------------------------------------------------------------
    def start(self, route: str, plan: Plan, *, actor: str, reason: str) -> Rollout:
        """A new running rollout at its first step, whose flip is pending. Refused while the route
        has an active one. The baselines are the counters every replica has published so far."""
        now = time.time()
        with self._lock, self._backend.write(self._connection()) as cur:
            active = self._active_for(cur, route)
            if active is not None:
                raise RolloutConflict(f"route {route!r} already has rollout #{active.id} ({active.status.value}); "
                                      "abort it first")
            counters = self._route_counters(cur, route)
            progress = {"step_baseline": counters, "window_baseline": counters, "window_started_at": now}
            first = plan.steps[0].state
            cur.execute(self._sql(
                f"INSERT INTO strangler_rollout ({_INSERTED}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id"),
                (route, Status.RUNNING.value, json.dumps(plan.as_dict()), 0, now, json.dumps(progress),
                 first.mode.value, first.weight, actor, reason, now, now))
            rollout_id = int(cur.fetchone()[0])
            self._event(cur, rollout_id, now, actor, 0, "start", f"{reason} (plan {', '.join(plan.as_dict()['steps'])})",
                        {"plan": plan.as_dict()})
            return self._get(cur, rollout_id)

    def change(
        self,
        rollout: Rollout,
        *,
        actor: str,
        verdict: str,
        reason: str,
        evidence: dict[str, Any] | None = None,
        fence: str | None = None,
        audit: bool = True,
        **fields: Any,
    ) -> Rollout:
        """Move `rollout` (as read by the caller) to `fields` (status, step, step_started_at,
        progress, pending) and audit why; refused if another writer moved it since, or if `fence`
        (a lease holder) no longer holds the lease."""
        now = time.time()
        with self._lock, self._backend.write(self._connection()) as cur:
            if fence is not None and not self._holds(cur, "rollouts", fence, now):
                raise LostLease("this replica no longer leads the rollouts")
            current = self._get(cur, rollout.id)
            if (current.status, current.step, current.pending) != (rollout.status, rollout.step, rollout.pending):
                raise RolloutConflict(f"rollout #{rollout.id} changed meanwhile (now {current.status.value}, "
                                      f"step {current.step + 1})")
            new = replace(current, **fields, updated_at=now)
            cur.execute(self._sql(
                "UPDATE strangler_rollout SET status = ?, step = ?, step_started_at = ?, progress = ?, "
                "pending_mode = ?, pending_weight = ?, updated_at = ? WHERE id = ?"),
                (new.status.value, new.step, new.step_started_at, json.dumps(new.progress),
                 new.pending.mode.value if new.pending else None, new.pending.weight if new.pending else None,
                 now, rollout.id))
            if audit:
                self._event(cur, rollout.id, now, actor, new.step, verdict, reason, evidence or {})
            return new

    def get(self, rollout_id: int) -> Rollout:
        with self._lock, self._backend.read(self._connection()) as cur:
            return self._get(cur, rollout_id)

    def for_route(self, route: str) -> Rollout | None:
        """The route's active rollout, else its latest."""
        with self._lock, self._backend.read(self._connection()) as cur:
            active = self._active_for(cur, route)
            if active is not None:
                return active
            cur.execute(self._sql(f"SELECT {_COLUMNS} FROM strangler_rollout WHERE route = ? ORDER BY id DESC LIMIT 1"),
                        (route,))
            row = cur.fetchone()
            return _rollout(row) if row else None

    def needing_work(self) -> list[Rollout]:
        """Running rollouts, and any with a flip still pending (an abort or rollback cut short)."""
        with self._lock, self._backend.read(self._connection()) as cur:
            cur.execute(self._sql(f"SELECT {_COLUMNS} FROM strangler_rollout WHERE status = ? OR pending_mode IS NOT NULL "
                                  "ORDER BY id"), (Status.RUNNING.value,))
            return [_rollout(row) for row in cur.fetchall()]

    def recent(self, limit: int = 20) -> list[Rollout]:
        with self._lock, self._backend.read(self._connection()) as cur:
            cur.execute(self._sql(f"SELECT {_COLUMNS} FROM strangler_rollout ORDER BY id DESC LIMIT ?"), (int(limit),))
            return [_rollout(row) for row in cur.fetchall()]

    def events(self, rollout_id: int, limit: int = 100) -> list[Event]:
        """Newest first."""
        with self._lock, self._backend.read(self._connection()) as cur:
            cur.execute(self._sql("SELECT id, rollout, at, actor, step, verdict, reason, evidence FROM strangler_rollout_event "
                                  "WHERE rollout = ? ORDER BY id DESC LIMIT ?"), (int(rollout_id), int(limit)))
            return [Event(int(i), int(r), float(at), actor, int(step), verdict, reason, json.loads(evidence))
                    for i, r, at, actor, step, verdict, reason, evidence in cur.fetchall()]

    def _get(self, cur: Any, rollout_id: int) -> Rollout:
        cur.execute(self._sql(f"SELECT {_COLUMNS} FROM strangler_rollout WHERE id = ?"), (int(rollout_id),))
        row = cur.fetchone()
        if row is None:
            raise RolloutConflict(f"no rollout #{rollout_id}")
        return _rollout(row)

    def _active_for(self, cur: Any, route: str) -> Rollout | None:
        cur.execute(self._sql(f"SELECT {_COLUMNS} FROM strangler_rollout WHERE route = ? AND status IN (?, ?) "
                              "ORDER BY id DESC LIMIT 1"), (route, Status.RUNNING.value, Status.PAUSED.value))
        row = cur.fetchone()
        return _rollout(row) if row else None

    def _event(self, cur: Any, rollout_id: int, at: float, actor: str, step: int, verdict: str, reason: str,
               evidence: dict[str, Any]) -> None:
        cur.execute(self._sql("INSERT INTO strangler_rollout_event (rollout, at, actor, step, verdict, reason, evidence) "
                              "VALUES (?, ?, ?, ?, ?, ?, ?)"),
                    (rollout_id, at, actor, step, verdict, reason, json.dumps(evidence)))

    # -- the leader's lease --------------------------------------------------------------
    def lead(self, holder: str, ttl: float, name: str = "rollouts") -> bool:
        """Take or renew the lease `name` for `ttl` seconds; False while another holder's is unexpired."""
        now = time.time()
        with self._lock, self._backend.write(self._connection()) as cur:
            cur.execute(self._sql("SELECT holder, expires_at FROM strangler_lease WHERE name = ?"), (name,))
            row = cur.fetchone()
            if row is None:
                cur.execute(self._sql("INSERT INTO strangler_lease (name, holder, expires_at) VALUES (?, ?, ?)"),
                            (name, holder, now + ttl))
                return True
            if row[0] != holder and float(row[1]) > now:
                return False
            cur.execute(self._sql("UPDATE strangler_lease SET holder = ?, expires_at = ? WHERE name = ?"),
                        (holder, now + ttl, name))
            return True

    def leader(self, name: str = "rollouts") -> tuple[str, float] | None:
        with self._lock, self._backend.read(self._connection()) as cur:
            cur.execute(self._sql("SELECT holder, expires_at FROM strangler_lease WHERE name = ?"), (name,))
            row = cur.fetchone()
            return (row[0], float(row[1])) if row and float(row[1]) > time.time() else None

    def resign(self, holder: str, name: str = "rollouts") -> None:
        """Give the lease up at once (a clean stop): the next replica need not wait for it to expire."""
        with self._lock, self._backend.write(self._connection()) as cur:
            cur.execute(self._sql("UPDATE strangler_lease SET expires_at = 0 WHERE name = ? AND holder = ?"),
                        (name, holder))

    def _holds(self, cur: Any, name: str, holder: str, now: float) -> bool:
        cur.execute(self._sql("SELECT holder, expires_at FROM strangler_lease WHERE name = ?"), (name,))
        row = cur.fetchone()
        return bool(row and row[0] == holder and float(row[1]) > now)

    # -- every replica's counters --------------------------------------------------------
    def publish(self, replica: str, counters: dict[str, Counters]) -> None:
        now = time.time()
        with self._lock, self._backend.write(self._connection()) as cur:
            cur.execute(self._sql(
                "INSERT INTO strangler_replica_counters (replica, at, counters) VALUES (?, ?, ?) "
                "ON CONFLICT (replica) DO UPDATE SET at = excluded.at, counters = excluded.counters"),
                (replica, now, json.dumps(counters)))
            cur.execute(self._sql("DELETE FROM strangler_replica_counters WHERE at < ?"), (now - COUNTERS_KEPT,))

    def counters(self, route: str) -> dict[str, Counters]:
        """Replica id -> its latest published counters for `route`."""
        with self._lock, self._backend.read(self._connection()) as cur:
            return self._route_counters(cur, route)

    def _route_counters(self, cur: Any, route: str) -> dict[str, Counters]:
        cur.execute("SELECT replica, counters FROM strangler_replica_counters")
        out: dict[str, Counters] = {}
        for replica, text in cur.fetchall():
            counters = json.loads(text).get(route)
            if counters:
                out[replica] = counters
        return out


def _rollout(row: tuple[Any, ...]) -> Rollout:
    (id_, route, status, plan, step, started, progress, pending_mode, pending_weight, actor, reason,
     created, updated) = row
    pending = RouteState(Mode(pending_mode), int(pending_weight)) if pending_mode is not None else None
    return Rollout(int(id_), route, Status(status), Plan.from_dict(json.loads(plan)), int(step), float(started),
                   json.loads(progress), pending, actor, reason, float(created), float(updated))
