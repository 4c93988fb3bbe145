"""Which side serves payments calls, decided against a real strangler store (a SQLite file)."""

from __future__ import annotations

import logging
import sqlite3
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from monolith.payments import switch
from strangler.control.store import Store, open_store
from strangler.proxy.config import parse_config
from strangler.proxy.routing import cohort_bucket
from strangler.proxy.types import Mode, RouteState


def _table(mode: str = "monolith", weight: int = 0):
    return parse_config({
        "targets": {"monolith": {"url": "http://127.0.0.1:1"}, "payments": {"url": "http://127.0.0.1:2"}},
        "routes": [{"name": "payments", "prefix": "/api/v1/payments", "service": "payments", "mode": mode,
                    "weight": weight}],
    }).table


@pytest.fixture
def store(tmp_path: Path, settings) -> Iterator[Store]:
    """The proxy's store, seeded from its route table; payments follow it with no caching."""
    url = f"sqlite:///{tmp_path}/routes.db"
    settings.PAYMENTS_IMPL = "follow"
    settings.STRANGLER_STORE_URL = url
    settings.PAYMENTS_ROUTE = "payments"
    settings.PAYMENTS_ROUTE_CACHE_SECONDS = 0
    with open_store(url, _table()) as proxy_store:
        yield proxy_store
    switch.follower_reset()


def _flip(store: Store, mode: Mode, weight: int = 0) -> None:
    store.set_state("payments", RouteState(mode, weight), actor="test", reason="test")


def test_pinned_sides(settings):
    settings.PAYMENTS_IMPL = "local"
    assert switch.payments_impl(user_id=uuid.uuid4()) == "local"
    settings.PAYMENTS_IMPL = "remote"
    assert switch.payments_impl() == "remote"


def test_an_unknown_impl_is_a_configuration_error_at_first_use(settings):
    settings.PAYMENTS_IMPL = "sideways"
    with pytest.raises(ImproperlyConfigured, match="sideways"):
        switch.payments_impl()


def test_follow_needs_a_store_url(settings):
    settings.PAYMENTS_IMPL = "follow"
    settings.STRANGLER_STORE_URL = ""
    with pytest.raises(ImproperlyConfigured, match="STRANGLER_STORE_URL"):
        switch.payments_impl()


@pytest.mark.parametrize(("mode", "expected"), [(Mode.MONOLITH, "local"), (Mode.SHADOW, "local"),
                                                (Mode.SERVICE, "remote")])
def test_follow_modes(store, mode, expected):
    _flip(store, mode)
    assert switch.payments_impl() == expected
    assert switch.payments_impl(user_id=uuid.uuid4()) == expected


def test_canary_is_sticky_per_user_and_keeps_calls_without_a_user_local(store):
    _flip(store, Mode.CANARY, 30)
    users = [uuid.uuid4() for _ in range(200)]
    sides = {u: switch.payments_impl(user_id=u) for u in users}
    assert sides == {u: "remote" if cohort_bucket(b"u:" + str(u).encode()) < 30 else "local" for u in users}
    assert set(sides.values()) == {"local", "remote"}
    assert all(switch.payments_impl(user_id=u) == side for u, side in sides.items())  # sticky
    assert switch.payments_impl() == "local"

    _flip(store, Mode.CANARY, 60)  # widening keeps everyone who was already remote there
    assert all(switch.payments_impl(user_id=u) == "remote" for u, side in sides.items() if side == "remote")


def test_the_state_is_cached_for_a_moment(store, settings):
    settings.PAYMENTS_ROUTE_CACHE_SECONDS = 0.5
    assert switch.payments_impl() == "local"
    _flip(store, Mode.SERVICE)
    assert switch.payments_impl() == "local"  # still the cached state
    time.sleep(0.6)
    assert switch.payments_impl() == "remote"


def test_an_unreadable_store_keeps_the_last_known_state(store, tmp_path, caplog):
    _flip(store, Mode.SERVICE)
    assert switch.payments_impl() == "remote"
    with sqlite3.connect(tmp_path / "routes.db") as conn:  # the store breaks under the reader
        conn.execute("DROP TABLE strangler_route_state")
    with caplog.at_level(logging.ERROR, logger="monolith.payments.switch"):
        assert switch.payments_impl() == "remote"
        assert switch.payments_impl(user_id=uuid.uuid4()) == "remote"
    assert "cannot read route 'payments'" in caplog.text


def test_a_store_never_read_means_local(settings, tmp_path, caplog):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    settings.PAYMENTS_IMPL = "follow"
    settings.STRANGLER_STORE_URL = f"sqlite:///{blocker}/routes.db"  # its directory cannot exist
    settings.PAYMENTS_ROUTE_CACHE_SECONDS = 0
    try:
        with caplog.at_level(logging.ERROR, logger="monolith.payments.switch"):
            assert switch.payments_impl(user_id=uuid.uuid4()) == "local"
        assert "cannot read route" in caplog.text
    finally:
        switch.follower_reset()


def test_the_reader_never_seeds_a_route(settings, tmp_path):
    url = f"sqlite:///{tmp_path}/routes.db"
    with open_store(url, _table()) as proxy_store:  # a store that does not know "payments" yet
        pass
    with sqlite3.connect(tmp_path / "routes.db") as conn:
        conn.execute("DELETE FROM strangler_route_state")
    settings.PAYMENTS_IMPL = "follow"
    settings.STRANGLER_STORE_URL = url
    settings.PAYMENTS_ROUTE_CACHE_SECONDS = 0
    try:
        assert switch.payments_impl() == "local"
        with sqlite3.connect(tmp_path / "routes.db") as conn:
            assert conn.execute("SELECT count(*) FROM strangler_route_state").fetchone() == (0,)
        # the proxy seeds it later from its file: the file's mode wins, and payments follow it
        with open_store(url, _table("service", 100)) as proxy_store:
            assert proxy_store.states()["payments"].mode is Mode.SERVICE
            assert switch.payments_impl() == "remote"
    finally:
        switch.follower_reset()
