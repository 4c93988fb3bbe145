"""The route state store against real SQLite files and a real PostgreSQL server."""

from __future__ import annotations

import multiprocessing
from collections.abc import Iterator
from pathlib import Path

import pytest

from strangler.control.store import (
    SEED_ACTOR,
    FlipRefused,
    InvalidState,
    NothingToRollBack,
    Store,
    UnknownRoute,
    open_store,
    parse_state,
)
from strangler.proxy.config import parse_config
from strangler.proxy.types import Mode, RouteState, RouteTable
from strangler.tests.control_support import pg_database

pytestmark = pytest.mark.integration


def make_table(orders_mode: str = "monolith", weight: int = 0, extra_route: bool = False) -> RouteTable:
    routes = [
        {"name": "orders", "prefix": "/api/orders", "service": "orders", "mode": orders_mode, "weight": weight},
        {"name": "billing", "prefix": "/api/billing", "service": "orders"},
    ]
    if extra_route:
        routes.append({"name": "search", "prefix": "/api/search", "service": "orders", "mode": "shadow"})
    return parse_config({
        "targets": {"monolith": {"url": "http://127.0.0.1:1"}, "orders": {"url": "http://127.0.0.1:2"}},
        "routes": routes,
    }).table


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path}/routes.db"
    else:
        with pg_database() as url:
            yield url


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    with open_store(store_url, make_table()) as s:
        yield s


def test_seeded_from_the_table_then_the_store_wins(store_url: str) -> None:
    with open_store(store_url, make_table("canary", 20)) as first:
        assert first.states()["orders"] == RouteState(Mode.CANARY, 20)
        assert first.states()["DEFAULT"] == RouteState(Mode.MONOLITH, 0)
        first.set_state("orders", RouteState(Mode.SERVICE, 100), actor="ann", reason="go")
        seeds = [e for e in first.history() if e.actor == SEED_ACTOR]
        assert {e.route for e in seeds} == {"orders", "billing", "DEFAULT"}
        assert all(e.from_state is None for e in seeds)
    # A restart with an edited file keeps the stored state and seeds only the new route.
    with open_store(store_url, make_table("monolith", 0, extra_route=True)) as second:
        states = second.states()
        assert states["orders"] == RouteState(Mode.SERVICE, 100)
        assert states["search"] == RouteState(Mode.SHADOW, 0)
        assert len([e for e in second.history() if e.actor == SEED_ACTOR]) == 4


def test_a_reader_opened_without_seeding_writes_nothing(store_url: str) -> None:
    reader = Store(store_url, make_table("canary", 20)).open(seed=False)
    try:
        assert reader.states() == {} and reader.history() == []
    finally:
        reader.close()
    with open_store(store_url, make_table("canary", 20)) as owner:  # the file's state still seeds first
        assert owner.states()["orders"] == RouteState(Mode.CANARY, 20)


def test_set_history_rollback_round_trip(store: Store) -> None:
    v0 = store.version()
    store.set_state("orders", RouteState(Mode.SHADOW), actor="ann", reason="compare first")
    store.set_state("orders", RouteState(Mode.CANARY, 10), actor="bob", reason="10% canary")
    store.set_state("orders", RouteState(Mode.CANARY, 50), actor="bob", reason="looks good")
    assert store.version() == v0 + 3
    assert store.states()["orders"] == RouteState(Mode.CANARY, 50)

    newest = store.history("orders", limit=3)
    assert [(e.actor, e.from_state, e.to_state, e.reason) for e in newest] == [
        ("bob", RouteState(Mode.CANARY, 10), RouteState(Mode.CANARY, 50), "looks good"),
        ("bob", RouteState(Mode.SHADOW), RouteState(Mode.CANARY, 10), "10% canary"),
        ("ann", RouteState(Mode.MONOLITH), RouteState(Mode.SHADOW), "compare first"),
    ]
    assert newest[0].at >= newest[1].at >= newest[2].at > 0
    row = newest[0].as_dict()
    assert {k: row[k] for k in ("from_mode", "from_weight", "to_mode", "to_weight")} == {
        "from_mode": "canary", "from_weight": 10, "to_mode": "canary", "to_weight": 50,
    }

    # Rollback walks back one change at a time and is itself audited.
    undo = store.rollback("orders", actor="carol", reason="errors up")
    assert (undo.actor, undo.to_state, undo.undoes) == ("carol", RouteState(Mode.CANARY, 10), newest[0].id)
    assert store.states()["orders"] == RouteState(Mode.CANARY, 10)
    store.rollback("orders", actor="carol", reason="still bad")
    store.rollback("orders", actor="carol", reason="back to the monolith")
    assert store.states()["orders"] == RouteState(Mode.MONOLITH)
    with pytest.raises(NothingToRollBack):
        store.rollback("orders", actor="carol", reason="nothing left")
    assert store.history("orders", limit=1)[0].reason == "back to the monolith"
    assert store.history("billing") and all(e.route == "billing" for e in store.history("billing"))


def test_an_override_is_audited_without_moving_the_route_and_rollback_skips_it(store: Store) -> None:
    store.set_state("orders", RouteState(Mode.SHADOW), actor="a", reason="1")

    def refuse(route, current, new):
        if new.mode is Mode.SERVICE:
            raise FlipRefused("contracts missing")

    with pytest.raises(FlipRefused):
        store.override_audit("orders", RouteState(Mode.SERVICE, 100), actor="b", reason="debug", guard=refuse)
    entry = store.override_audit("orders", RouteState(Mode.SERVICE, 100), actor="b", reason="debug", guard=refuse,
                                 force=True)
    assert (entry.from_state, entry.to_state) == (RouteState(Mode.SHADOW), RouteState(Mode.SHADOW))
    assert entry.reason == "debug [forced past: contracts missing]"
    assert store.history("orders", limit=1)[0].id == entry.id
    undo = store.rollback("orders", actor="a", reason="undo 1")  # the shadow flip, not the override
    assert store.states()["orders"] == RouteState(Mode.MONOLITH) and undo.undoes == entry.id - 1


def test_rollback_after_a_new_change_undoes_that_change(store: Store) -> None:
    store.set_state("orders", RouteState(Mode.SHADOW), actor="a", reason="1")
    store.set_state("orders", RouteState(Mode.SERVICE, 100), actor="a", reason="2")
    store.rollback("orders", actor="a", reason="undo 2")
    store.set_state("orders", RouteState(Mode.CANARY, 5), actor="a", reason="3")
    store.rollback("orders", actor="a", reason="undo 3")
    assert store.states()["orders"] == RouteState(Mode.SHADOW)
    store.rollback("orders", actor="a", reason="undo 1")
    assert store.states()["orders"] == RouteState(Mode.MONOLITH)


@pytest.mark.parametrize(
    ("route", "state", "error", "message"),
    [
        ("nope", RouteState(Mode.SHADOW), UnknownRoute, "unknown route 'nope'"),
        ("orders", RouteState(Mode.CANARY, 0), InvalidState, "canary mode needs a weight"),
        ("orders", RouteState(Mode.CANARY, 101), InvalidState, "between 0 and 100"),
        ("orders", RouteState(Mode.SHADOW, -1), InvalidState, "between 0 and 100"),
        ("DEFAULT", RouteState(Mode.SERVICE, 100), InvalidState, "has no service"),
    ],
)
def test_validation_errors_change_nothing(store: Store, route: str, state: RouteState, error: type, message: str) -> None:
    before = (store.version(), store.states(), len(store.history()))
    with pytest.raises(error, match=message):
        store.set_state(route, state, actor="ann", reason="r")
    assert (store.version(), store.states(), len(store.history())) == before


def test_reason_and_actor_are_required(store: Store) -> None:
    with pytest.raises(InvalidState, match="reason is required"):
        store.set_state("orders", RouteState(Mode.SHADOW), actor="ann", reason="  ")
    with pytest.raises(InvalidState, match="actor is required"):
        store.set_state("orders", RouteState(Mode.SHADOW), actor="", reason="r")


def test_drain_requests_are_recorded_in_order(store: Store) -> None:
    version = store.version()
    assert store.last_drain() == 0
    first = store.request_drain("orders", 10, actor="ann", reason="moved to the service")
    second = store.request_drain("billing", 0.5, actor="bob", reason="again")
    assert store.version() == version + 2  # replicas notice a drain like a flip
    assert store.drains_after(0) == [first, second]
    assert store.drains_after(first.id) == [second] and store.last_drain() == second.id
    assert (second.route, second.grace, second.actor) == ("billing", 0.5, "bob")
    with pytest.raises(UnknownRoute):
        store.request_drain("nope", 1, actor="a", reason="r")
    for grace in (-1, 3601, True, "5"):
        with pytest.raises(InvalidState):
            store.request_drain("orders", grace, actor="a", reason="r")  # type: ignore[arg-type]
    with pytest.raises(InvalidState):
        store.request_drain("orders", 1, actor="a", reason=" ")
    assert store.last_drain() == second.id


def test_parse_state_operator_input() -> None:
    assert parse_state("canary", 30) == RouteState(Mode.CANARY, 30)
    assert parse_state("service", None) == RouteState(Mode.SERVICE, 100)
    for mode, weight, message in [("canary", None, "needs a weight"), ("blue", 1, "mode must be one of"),
                                  ("canary", "10", "integer"), ("canary", True, "integer")]:
        with pytest.raises(InvalidState, match=message):
            parse_state(mode, weight)


def test_guard_can_refuse_a_flip(store: Store) -> None:
    seen = []

    def contracts_pass(route, current, new):  # the hook for contract-gated flips
        seen.append((route.name, current, new))
        if new.mode in (Mode.CANARY, Mode.SERVICE):
            raise FlipRefused(f"contract tests for {route.service} have not passed")

    store.set_state("orders", RouteState(Mode.SHADOW), actor="a", reason="ok", guard=contracts_pass)
    with pytest.raises(FlipRefused, match="contract tests"):
        store.set_state("orders", RouteState(Mode.CANARY, 5), actor="a", reason="no", guard=contracts_pass)
    assert store.states()["orders"] == RouteState(Mode.SHADOW)
    assert seen == [("orders", RouteState(Mode.MONOLITH), RouteState(Mode.SHADOW)),
                    ("orders", RouteState(Mode.SHADOW), RouteState(Mode.CANARY, 5))]


def test_two_instances_see_each_others_changes(store_url: str) -> None:
    with open_store(store_url, make_table()) as a, open_store(store_url, make_table()) as b:
        assert a.version() == b.version()
        a.set_state("orders", RouteState(Mode.CANARY, 25), actor="ann", reason="from a")
        assert b.version() == a.version()
        assert b.states()["orders"] == RouteState(Mode.CANARY, 25)
        b.rollback("orders", actor="bob", reason="from b")
        assert a.states()["orders"] == RouteState(Mode.MONOLITH)
        assert [e.actor for e in a.history("orders", limit=2)] == ["bob", "ann"]


def test_on_commit_gets_each_new_version(store_url: str) -> None:
    versions: list[int] = []
    with open_store(store_url, make_table(), on_commit=versions.append) as s:
        s.set_state("orders", RouteState(Mode.SHADOW), actor="a", reason="r")
        s.rollback("orders", actor="a", reason="r")
        assert versions == [s.version() - 1, s.version()]


def _writer(url: str, worker: int, count: int) -> None:
    with open_store(url, make_table()) as s:
        for i in range(count):
            s.set_state("orders", RouteState(Mode.CANARY, 1 + (worker * count + i) % 100), actor=f"w{worker}",
                        reason=f"{i}")


def test_concurrent_writer_processes_lose_nothing(store_url: str) -> None:
    with open_store(store_url, make_table()) as s:
        start = s.version()
    ctx = multiprocessing.get_context("spawn")
    workers = [ctx.Process(target=_writer, args=(store_url, w, 25)) for w in range(4)]
    for p in workers:
        p.start()
    for p in workers:
        p.join(60)
        assert p.exitcode == 0
    with open_store(store_url, make_table()) as s:
        assert s.version() == start + 100
        changes = [e for e in s.history("orders", limit=1000) if e.actor != SEED_ACTOR]
        assert len(changes) == 100
        # Each audit row's from-state is the previous row's to-state: writes were serialised.
        changes.reverse()
        for before, after in zip(changes, changes[1:], strict=False):
            assert after.from_state == before.to_state


def test_postgres_connection_lost_is_replaced() -> None:
    import psycopg

    with pg_database() as url, open_store(url, make_table()) as s:
        version = s.version()
        with psycopg.connect(url, autocommit=True) as admin:
            admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                          "WHERE datname = current_database() AND pid <> pg_backend_pid()")
        with pytest.raises(psycopg.OperationalError):
            s.version()
        assert s.version() == version  # reconnected
        s.set_state("orders", RouteState(Mode.SHADOW), actor="a", reason="after reconnect")
        assert s.states()["orders"] == RouteState(Mode.SHADOW)


def _rollbacker(url: str, count: int) -> None:
    with open_store(url, make_table()) as s:
        for _ in range(count):
            try:
                s.rollback("orders", actor="r", reason="undo")
            except NothingToRollBack:
                return


def test_concurrent_rollbacks_undo_each_change_once(store_url: str) -> None:
    with open_store(store_url, make_table()) as s:
        for i in range(12):
            s.set_state("orders", RouteState(Mode.CANARY, i + 1), actor="w", reason=f"{i}")
    ctx = multiprocessing.get_context("spawn")
    workers = [ctx.Process(target=_rollbacker, args=(store_url, 10)) for _ in range(3)]
    for p in workers:
        p.start()
    for p in workers:
        p.join(60)
        assert p.exitcode == 0
    with open_store(store_url, make_table()) as s:
        undos = [e for e in s.history("orders", limit=1000) if e.undoes is not None]
        assert len(undos) == 12
        assert len({e.undoes for e in undos}) == 12
        assert s.states()["orders"] == RouteState(Mode.MONOLITH)
