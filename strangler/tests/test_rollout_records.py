"""Rollouts in the store, on both backends: one active rollout per route, writes that lost a race or
the lease are refused, the lease passes on only once it expired or was given up, and the operator's
verbs move the route as the rollout says."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from strangler.control.rollout.actions import rollout_abort, rollout_pause, rollout_resume, rollout_start
from strangler.control.rollout.plan import Status, plan_from
from strangler.control.rollout.records import LostLease, RolloutConflict, RolloutRecords
from strangler.control.store import FlipRefused, InvalidState, Store, open_store
from strangler.proxy.types import Mode, RouteState
from strangler.tests.test_store import make_table, store_url  # noqa: F401 - the fixture, on both backends

pytestmark = pytest.mark.integration
PLAN = plan_from(steps="canary:10:1m,service", interval=1, min_requests=5)


@pytest.fixture
def stores(store_url: str) -> Iterator[tuple[Store, RolloutRecords]]:  # noqa: F811
    with open_store(store_url, make_table()) as store, RolloutRecords(store_url) as records:
        yield store, records


def test_a_started_rollout_flips_to_its_first_step_and_only_one_runs_per_route(stores) -> None:
    store, records = stores
    rollout = rollout_start(store=store, records=records, route="orders", plan=PLAN, actor="ann", reason="cut")
    assert rollout.status is Status.RUNNING and rollout.pending is None
    assert store.states()["orders"] == RouteState(Mode.CANARY, 10)
    assert store.history("orders")[0].reason.startswith(f"rollout #{rollout.id} canary 10%")
    with pytest.raises(RolloutConflict, match="already has rollout"):
        rollout_start(store=store, records=records, route="orders", plan=PLAN, actor="bob", reason="again")
    other = rollout_start(store=store, records=records, route="billing", plan=PLAN, actor="bob", reason="cut too")
    assert other.id != rollout.id
    with pytest.raises(InvalidState, match="no service"):
        rollout_start(store=store, records=records, route="DEFAULT", plan=PLAN, actor="bob", reason="no")


def test_pause_resume_and_abort_move_the_rollout_and_the_route(stores) -> None:
    store, records = stores
    rollout_start(store=store, records=records, route="orders", plan=PLAN, actor="ann", reason="cut")
    paused = rollout_pause(records=records, route="orders", actor="ann", reason="lunch")
    assert paused.status is Status.PAUSED
    assert store.states()["orders"] == RouteState(Mode.CANARY, 10)  # a pause holds the route where it is
    with pytest.raises(RolloutConflict, match="not running"):
        rollout_pause(records=records, route="orders", actor="ann", reason="twice")
    resumed = rollout_resume(records=records, route="orders", actor="ann", reason="back")
    assert resumed.status is Status.RUNNING and resumed.step_started_at > paused.step_started_at
    aborted = rollout_abort(store=store, records=records, route="orders", actor="ann", reason="p95 looks odd")
    assert aborted.status is Status.ABORTED and aborted.pending is None
    assert store.states()["orders"] == RouteState(Mode.MONOLITH, 0)
    assert "aborted: p95 looks odd" in store.history("orders")[0].reason
    assert [e.verdict for e in records.events(aborted.id)] == ["aborted", "resumed", "paused", "start"]
    with pytest.raises(RolloutConflict, match="no running or paused rollout"):
        rollout_abort(store=store, records=records, route="orders", actor="ann", reason="again")


def test_a_first_flip_the_gate_refuses_does_not_start_the_rollout(store_url: str) -> None:  # noqa: F811
    def refuse(route, current, new):  # noqa: ANN001, ANN202 - a store guard
        if new.mode is not Mode.MONOLITH:
            raise FlipRefused("contracts not verified")

    with open_store(store_url, make_table(), guard=refuse) as store, RolloutRecords(store_url) as records:
        with pytest.raises(FlipRefused):
            rollout_start(store=store, records=records, route="orders", plan=PLAN, actor="ann", reason="cut")
        assert records.for_route("orders").status is Status.ABORTED
        assert store.states()["orders"] == RouteState(Mode.MONOLITH, 0)
        # Forced: the flip goes past the gate, and the audit keeps why and what the gate said.
        forced = plan_from(steps="canary:10:1m,service", force="hotfix, contracts rerun later")
        rollout_start(store=store, records=records, route="orders", plan=forced, actor="ann", reason="cut")
        assert store.states()["orders"] == RouteState(Mode.CANARY, 10)
        assert store.history("orders")[0].reason.endswith(
            "(forced: hotfix, contracts rerun later) [forced past: contracts not verified]")


def test_a_write_that_lost_a_race_is_refused(stores) -> None:
    store, records = stores
    read = rollout_start(store=store, records=records, route="orders", plan=PLAN, actor="ann", reason="cut")
    rollout_pause(records=records, route="orders", actor="bob", reason="hold on")
    with pytest.raises(RolloutConflict, match="changed meanwhile"):
        records.change(read, actor="controller", verdict="advance", reason="stale", step=1)
    assert records.get(read.id).step == 0


def test_the_lease_has_one_holder_until_it_expires_or_is_given_up(stores) -> None:
    store, records = stores
    assert records.lead("a", ttl=0.5)
    assert not records.lead("b", ttl=0.5)
    assert records.lead("a", ttl=0.5)  # renewed
    time.sleep(0.6)
    assert records.lead("b", ttl=5)  # expired: b takes over
    assert records.leader()[0] == "b"
    rollout = rollout_start(store=store, records=records, route="orders", plan=PLAN, actor="ann", reason="cut")
    with pytest.raises(LostLease):  # a's writes are fenced out
        records.change(rollout, actor="controller@a", verdict="advance", reason="x", fence="a", step=1)
    records.resign("b")
    assert records.leader() is None and records.lead("a", ttl=5)


def test_replica_counters_are_kept_per_replica_and_route(stores) -> None:
    _, records = stores
    records.publish("r1", {"orders": {"service.total": 3}, "billing": {"service.total": 1}})
    records.publish("r2", {"orders": {"service.total": 4}})
    records.publish("r1", {"orders": {"service.total": 5}, "billing": {"service.total": 1}})
    assert records.counters("orders") == {"r1": {"service.total": 5}, "r2": {"service.total": 4}}
