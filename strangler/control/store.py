"""Durable route state and its audit trail, shared by every proxy replica and the CLI; and drain
requests, which every replica's watcher hands to its proxy (strangler.proxy.tunnels).

SQLite (stdlib, WAL, one file shared by several processes) by default; PostgreSQL when the
url says ``postgresql://`` (psycopg 3, imported only then). Every change writes the new state,
an audit row and a bumped global version in one transaction, so replicas that see the version
move also see the state and who changed it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from strangler.control.store_connection import StoreConnection, StoreError
from strangler.proxy.types import Mode, Route, RouteState, RouteTable

# A pre-flip check (e.g. "contract tests pass for this service"): raise FlipRefused to refuse.
Guard = Callable[[Route, RouteState, RouteState], None]
# Called after a change is committed with the new global version (e.g. publish to Redis).
OnCommit = Callable[[int], None]

SEED_ACTOR = "seed"
MAX_DRAIN_GRACE = 3600.0  # seconds a drain may wait before closing the tunnels a flip moved


class UnknownRoute(StoreError):
    pass


class InvalidState(StoreError):
    pass


class FlipRefused(StoreError):
    """Raised by a guard to refuse a flip (e.g. strangler.control.flip_gate: contracts must pass)."""


class NothingToRollBack(StoreError):
    pass


@dataclass(frozen=True, slots=True)
class AuditEntry:
    id: int
    at: float  # unix time of the commit
    actor: str
    route: str
    from_state: RouteState | None  # None for the seed row
    to_state: RouteState
    reason: str
    undoes: int | None = None  # id of the entry this rollback undid

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "at": self.at,
            "actor": self.actor,
            "route": self.route,
            "from_mode": self.from_state.mode.value if self.from_state else None,
            "from_weight": self.from_state.weight if self.from_state else None,
            "to_mode": self.to_state.mode.value,
            "to_weight": self.to_state.weight,
            "reason": self.reason,
            "undoes": self.undoes,
        }


@dataclass(frozen=True, slots=True)
class DrainRequest:
    """Close, `grace` seconds after `at` (unix time), the WebSocket tunnels of `route` that its state then
    sends to the other side; every replica does it for its own tunnels."""

    id: int
    at: float
    actor: str
    route: str
    grace: float
    reason: str

    def as_dict(self) -> dict[str, Any]:
        return {"id": self.id, "at": self.at, "actor": self.actor, "route": self.route, "grace": self.grace,
                "reason": self.reason}


def validate_grace(grace: object) -> float:
    """A drain's grace from operator input; checked before a flip that asks for a drain is committed."""
    if isinstance(grace, bool) or not isinstance(grace, int | float) or not 0 <= grace <= MAX_DRAIN_GRACE:
        raise InvalidState(f"drain grace must be a number of seconds between 0 and {MAX_DRAIN_GRACE:g}")
    return float(grace)


def validate_state(route: Route, state: RouteState) -> None:
    if not isinstance(state.weight, int) or isinstance(state.weight, bool) or not 0 <= state.weight <= 100:
        raise InvalidState(f"weight must be an integer between 0 and 100, got {state.weight!r}")
    if state.mode is Mode.CANARY and state.weight == 0:
        raise InvalidState("canary mode needs a weight between 1 and 100")
    if route.service is None and state.mode is not Mode.MONOLITH:
        raise InvalidState(f"route {route.name!r} has no service; only mode 'monolith' is possible")


class Store(StoreConnection):
    """Route states of one route table. Thread-safe; every call is one short transaction."""

    def __init__(
        self,
        url: str,
        table: RouteTable,
        *,
        guard: Guard | None = None,
        on_commit: OnCommit | None = None,
    ) -> None:
        super().__init__(url)
        self.table = table
        self.guard = guard
        self.on_commit = on_commit
        self._routes = {r.name: r for r in table.routes}

    # -- lifecycle -------------------------------------------------------------------------
    def open(self, *, seed: bool = True) -> Store:
        """Connect, create the tables and seed routes the store does not know yet. A reader that
        is not the route table's owner (e.g. a service following a route) opens with seed=False,
        so only the proxy's file ever gives a route its first state."""
        with self._lock:
            self._conn = self._backend.connect()
            self._backend.create_schema(self._conn)
            if seed:
                self._seed()
        return self

    def _seed(self) -> None:
        """The file's mode/weight is the initial state of a route; afterwards the store wins."""
        now = time.time()
        with self._backend.write(self._connection()) as cur:
            cur.execute(self._sql("SELECT route FROM strangler_route_state"))
            known = {row[0] for row in cur.fetchall()}
            missing = [r for r in self.table.routes if r.name not in known]
            if not missing:
                return
            version = self._bump(cur)
            for route in missing:
                cur.execute(
                    self._sql(
                        "INSERT INTO strangler_route_state (route, mode, weight, version, updated_at) VALUES (?, ?, ?, ?, ?)"
                    ),
                    (route.name, route.state.mode.value, route.state.weight, version, now),
                )
                self._audit(cur, now, SEED_ACTOR, route.name, None, route.state, "seeded from the route table")

    # -- reads -----------------------------------------------------------------------------
    def version(self) -> int:
        with self._lock, self._backend.read(self._connection()) as cur:
            cur.execute("SELECT version FROM strangler_meta WHERE id = 1")
            return int(cur.fetchone()[0])

    def states(self) -> dict[str, RouteState]:
        return self.snapshot()[1]

    def snapshot(self) -> tuple[int, dict[str, RouteState]]:
        """Version and states read in one transaction, so they belong together."""
        with self._lock, self._backend.read(self._connection()) as cur:
            cur.execute("SELECT version FROM strangler_meta WHERE id = 1")
            version = int(cur.fetchone()[0])
            cur.execute("SELECT route, mode, weight FROM strangler_route_state")
            states = {
                name: RouteState(Mode(mode), int(weight))
                for name, mode, weight in cur.fetchall()
                if name in self._routes  # rows of routes removed from the file are kept, not served
            }
        return version, states

    def history(self, route: str | None = None, limit: int = 50) -> list[AuditEntry]:
        """Newest first."""
        if route is not None:
            self._route(route)
        cols = "id, at, actor, route, from_mode, from_weight, to_mode, to_weight, reason, undoes"
        with self._lock, self._backend.read(self._connection()) as cur:
            if route is None:
                cur.execute(self._sql(f"SELECT {cols} FROM strangler_audit ORDER BY id DESC LIMIT ?"), (int(limit),))
            else:
                cur.execute(
                    self._sql(f"SELECT {cols} FROM strangler_audit WHERE route = ? ORDER BY id DESC LIMIT ?"),
                    (route, int(limit)),
                )
            return [_entry(row) for row in cur.fetchall()]

    # -- writes ----------------------------------------------------------------------------
    def set_state(
        self,
        route: str,
        state: RouteState,
        *,
        actor: str,
        reason: str,
        guard: Guard | None = None,
        force: bool = False,
    ) -> AuditEntry:
        """Validate, run the guard, then write state + audit + version in one transaction.

        ``force`` goes past a refusing guard; the refusal is written into the audit reason, so
        the history shows who overrode which check and why."""
        target = self._route(route)
        state = RouteState(Mode(state.mode), state.weight)
        validate_state(target, state)
        actor, reason = _required("actor", actor), _required("reason", reason)
        return self._write(target, lambda cur: (state, None), actor, reason, guard or self.guard, force)

    def rollback(self, route: str, *, actor: str, reason: str, guard: Guard | None = None) -> AuditEntry:
        """Undo the latest change of ``route`` not undone yet (repeat to walk further back).

        The change to undo is chosen inside the write transaction, so a concurrent flip or
        rollback from another process cannot make it undo the wrong entry."""
        target = self._route(route)
        actor, reason = _required("actor", actor), _required("reason", reason)

        def choose(cur: Any) -> tuple[RouteState, int | None]:
            undo = self._undo_candidate(cur, route)
            if undo is None or undo.from_state is None:
                raise NothingToRollBack(f"route {route!r} has no change to roll back")
            return undo.from_state, undo.id

        return self._write(target, choose, actor, reason, guard or self.guard)

    def override_audit(
        self,
        route: str,
        reaches: RouteState,
        *,
        actor: str,
        reason: str,
        guard: Guard | None = None,
        force: bool = False,
    ) -> AuditEntry:
        """Audit a signed override that sends its bearer's requests where ``reaches`` would send
        everyone's: the guard is asked as for that flip (refusing unless ``force``, the refusal then
        kept in the reason), and the audit row shows the route's own state unchanged."""
        target = self._route(route)
        actor, reason = _required("actor", actor), _required("reason", reason)
        guard = guard or self.guard
        with self._lock, self._backend.write(self._connection()) as cur:
            current = self._current(cur, target)
            reason = _guarded(guard, target, current, reaches, reason, force)
            return self._audit(cur, time.time(), actor, target.name, current, current, reason)

    def _current(self, cur: Any, route: Route) -> RouteState:
        """The route's state in the store (the table's initial one before its first write)."""
        cur.execute(self._sql("SELECT mode, weight FROM strangler_route_state WHERE route = ?"), (route.name,))
        row = cur.fetchone()
        return RouteState(Mode(row[0]), int(row[1])) if row else route.state

    def _undo_candidate(self, cur: Any, route: str) -> AuditEntry | None:
        cur.execute(
            self._sql(
                "SELECT id, at, actor, route, from_mode, from_weight, to_mode, to_weight, reason, undoes "
                "FROM strangler_audit WHERE route = ? ORDER BY id DESC"
            ),
            (route,),
        )
        rows = [_entry(row) for row in cur.fetchall()]
        undone = {e.undoes for e in rows if e.undoes is not None}
        for entry in rows:
            # A row that moved nothing (a signed override's, a flip to the state it had) has nothing to undo.
            if entry.undoes is None and entry.id not in undone and entry.from_state != entry.to_state:
                return entry
        return None

    def _write(
        self,
        route: Route,
        choose: Callable[[Any], tuple[RouteState, int | None]],
        actor: str,
        reason: str,
        guard: Guard | None,
        force: bool = False,
    ) -> AuditEntry:
        """One transaction under the store-wide write lock: read the current state, choose the
        new one, ask the guard, bump the version, write state and audit row."""
        with self._lock:
            with self._backend.write(self._connection()) as cur:
                now = time.time()
                current = self._current(cur, route)
                state, undoes = choose(cur)
                reason = _guarded(guard, route, current, state, reason, force)
                version = self._bump(cur)
                cur.execute(
                    self._sql(
                        "INSERT INTO strangler_route_state (route, mode, weight, version, updated_at) VALUES (?, ?, ?, ?, ?) "
                        "ON CONFLICT (route) DO UPDATE SET mode = excluded.mode, weight = excluded.weight, "
                        "version = excluded.version, updated_at = excluded.updated_at"
                    ),
                    (route.name, state.mode.value, state.weight, version, now),
                )
                entry = self._audit(cur, now, actor, route.name, current, state, reason, undoes)
        if self.on_commit is not None:
            self.on_commit(version)
        return entry

    def request_drain(self, route: str, grace: float, *, actor: str, reason: str) -> DrainRequest:
        """Record a drain and bump the version, so every replica's watcher sees it within a second."""
        self._route(route)
        grace = validate_grace(grace)
        actor, reason = _required("actor", actor), _required("reason", reason)
        with self._lock:
            with self._backend.write(self._connection()) as cur:
                now = time.time()
                version = self._bump(cur)
                cur.execute(
                    self._sql("INSERT INTO strangler_drain (at, actor, route, grace, reason) VALUES (?, ?, ?, ?, ?) "
                              "RETURNING id"),
                    (now, actor, route, float(grace), reason),
                )
                entry = DrainRequest(int(cur.fetchone()[0]), now, actor, route, float(grace), reason)
        if self.on_commit is not None:
            self.on_commit(version)
        return entry

    def drains_after(self, after: int, limit: int = 100) -> list[DrainRequest]:
        """Drain requests with an id above `after`, oldest first."""
        with self._lock, self._backend.read(self._connection()) as cur:
            cur.execute(self._sql("SELECT id, at, actor, route, grace, reason FROM strangler_drain WHERE id > ? "
                                  "ORDER BY id LIMIT ?"), (int(after), int(limit)))
            return [DrainRequest(int(i), float(at), actor, route, float(grace), reason)
                    for i, at, actor, route, grace, reason in cur.fetchall()]

    def last_drain(self) -> int:
        """The id of the latest drain request (0: none yet): a replica starting now has no tunnel to drain."""
        with self._lock, self._backend.read(self._connection()) as cur:
            cur.execute("SELECT COALESCE(MAX(id), 0) FROM strangler_drain")
            return int(cur.fetchone()[0])

    def _bump(self, cur: Any) -> int:
        cur.execute("UPDATE strangler_meta SET version = version + 1 WHERE id = 1")
        cur.execute("SELECT version FROM strangler_meta WHERE id = 1")
        return int(cur.fetchone()[0])

    def _audit(
        self,
        cur: Any,
        at: float,
        actor: str,
        route: str,
        before: RouteState | None,
        after: RouteState,
        reason: str,
        undoes: int | None = None,
    ) -> AuditEntry:
        cur.execute(
            self._sql(
                "INSERT INTO strangler_audit (at, actor, route, from_mode, from_weight, to_mode, to_weight, reason, undoes) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id"
            ),
            (
                at,
                actor,
                route,
                before.mode.value if before else None,
                before.weight if before else None,
                after.mode.value,
                after.weight,
                reason,
                undoes,
            ),
        )
        audit_id = int(cur.fetchone()[0])
        return AuditEntry(audit_id, at, actor, route, before, after, reason, undoes)

    def _route(self, name: str) -> Route:
        try:
            return self._routes[name]
        except KeyError:
            known = ", ".join(sorted(self._routes))
            raise UnknownRoute(f"unknown route {name!r} (known: {known})") from None


def open_store(
    url: str, table: RouteTable, *, guard: Guard | None = None, on_commit: OnCommit | None = None
) -> Store:
    return Store(url, table, guard=guard, on_commit=on_commit).open()


def parse_state(mode: object, weight: object | None) -> RouteState:
    """Operator input (CLI, admin JSON) to a RouteState, with messages fit for a 400."""
    try:
        parsed_mode = Mode(str(mode))
    except ValueError:
        choices = ", ".join(m.value for m in Mode)
        raise InvalidState(f"mode must be one of {choices}, got {mode!r}") from None
    if weight is None:
        if parsed_mode is Mode.CANARY:
            raise InvalidState("canary mode needs a weight between 1 and 100")
        weight = 100 if parsed_mode is Mode.SERVICE else 0
    if isinstance(weight, bool) or not isinstance(weight, int):
        raise InvalidState(f"weight must be an integer between 0 and 100, got {weight!r}")
    return RouteState(parsed_mode, weight)


def _guarded(guard: Guard | None, route: Route, current: RouteState, new: RouteState, reason: str,
             force: bool) -> str:
    """Ask the guard about going from ``current`` to ``new``: its refusal is raised, or with ``force``
    kept in the returned audit reason."""
    if guard is not None:
        try:
            guard(route, current, new)
        except FlipRefused as refusal:
            if not force:
                raise
            return f"{reason} [forced past: {refusal}]"
    return reason


def _required(what: str, value: object) -> str:
    if not isinstance(value, str) or not value.strip():
        raise InvalidState(f"{what} is required")
    return value.strip()


def _entry(row: tuple[Any, ...]) -> AuditEntry:
    id_, at, actor, route, from_mode, from_weight, to_mode, to_weight, reason, undoes = row
    before = RouteState(Mode(from_mode), int(from_weight)) if from_mode is not None else None
    return AuditEntry(
        int(id_),
        float(at),
        actor,
        route,
        before,
        RouteState(Mode(to_mode), int(to_weight)),
        reason,
        int(undoes) if undoes is not None else None,
    )
