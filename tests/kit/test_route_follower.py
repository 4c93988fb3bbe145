"""The kit's route follower against a real strangler store (a SQLite file): modes map to sides,
a canary is sticky per user, a store outage keeps the last state, settings changes rebuild."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from strangler.control.store import Store, open_store
from strangler.django import route_follower
from strangler.django.route_follower import LOCAL, REMOTE, RouteFollower, route_side, side_for
from strangler.proxy.config import parse_config
from strangler.proxy.routing import cohort_bucket
from strangler.proxy.types import Mode, RouteState
from strangler.testing import free_port


def _table():
    return parse_config({
        "targets": {"monolith": {"url": "http://127.0.0.1:1"}, "billing": {"url": "http://127.0.0.1:2"}},
        "routes": [{"name": "billing", "prefix": "/api/v1/billing", "service": "billing", "mode": "monolith"}],
    }).table


@pytest.fixture
def store(tmp_path: Path, settings) -> Iterator[Store]:
    settings.STRANGLER_STORE_URL = f"sqlite:///{tmp_path}/routes.db"
    settings.STRANGLER_ROUTE_CACHE_SECONDS = 0
    with open_store(settings.STRANGLER_STORE_URL, _table()) as proxy_store:
        yield proxy_store
    route_follower.route_followers_reset()


def _flip(store: Store, mode: Mode, weight: int = 0) -> None:
    store.set_state("billing", RouteState(mode, weight), actor="test", reason="test")


@pytest.mark.parametrize(("mode", "side"), [(Mode.MONOLITH, LOCAL), (Mode.SHADOW, LOCAL), (Mode.SERVICE, REMOTE)])
def test_modes_map_to_sides(store, mode, side):
    _flip(store, mode)
    assert route_side(route="billing") == side
    assert route_side(route="billing", user_id=uuid.uuid4()) == side


def test_a_canary_is_sticky_per_user_and_local_without_one():
    state = RouteState(Mode.CANARY, 30)
    users = [uuid.uuid4() for _ in range(50)]
    expected = {u: REMOTE if cohort_bucket(b"u:" + str(u).encode()) < 30 else LOCAL for u in users}
    assert {u: side_for(state, user_id=u) for u in users} == expected
    assert side_for(state, user_id=None) == LOCAL


def test_following_needs_a_store_url(settings):
    settings.STRANGLER_STORE_URL = ""
    with pytest.raises(ImproperlyConfigured, match="STRANGLER_STORE_URL"):
        route_side(route="billing")


def test_an_unreadable_store_keeps_the_last_state(tmp_path: Path):
    url = f"sqlite:///{tmp_path}/routes.db"
    with open_store(url, _table()) as proxy_store:
        _flip(proxy_store, Mode.SERVICE)
        follower = RouteFollower(url, "billing", cache_seconds=0)
        assert follower.state() == RouteState(Mode.SERVICE, 0)
    follower.url = f"sqlite:///{tmp_path}/missing-dir/routes.db"  # a reconnect cannot succeed
    follower.close()
    assert follower.state() == RouteState(Mode.SERVICE, 0)
    follower.close()


def test_an_unknown_route_stays_local(store):
    assert route_side(route="not-in-the-table") == LOCAL


def test_a_canary_buckets_a_request_as_the_proxy_does(store, settings, rf):
    """With the route's cohort declared, the monolith's own call during a request lands on the side
    the proxy sends that client to (same key, same hash), whatever the user id."""
    from strangler.django.cohort import CohortRequestMiddleware
    from strangler.proxy.routing import RequestInfo, decide
    from strangler.proxy.types import CohortKey, Route, Side

    settings.STRANGLER_ROUTE_COHORTS = {"billing": "header:authorization"}
    _flip(store, Mode.CANARY, 50)
    proxy_route = Route(name="billing", prefix="/api/v1/billing", service="billing", state=RouteState(Mode.CANARY, 50),
                        cohort=CohortKey("header", "authorization"))
    agreed = set()
    for n in range(40):
        token = f"Token t{n}"
        proxy = decide(proxy_route, RequestInfo(method="POST", headers={b"authorization": token.encode()},
                                                client_ip="10.0.0.1")).side
        side = CohortRequestMiddleware(lambda request: route_side(route="billing", user_id=uuid.uuid4()))(
            rf.post("/api/v1/orders/", HTTP_AUTHORIZATION=token))
        assert side == (REMOTE if proxy is Side.SERVICE else LOCAL), token
        agreed.add(side)
    assert agreed == {LOCAL, REMOTE}
    # Outside a request (a Celery task), the per-user bucket still applies.
    user = uuid.uuid4()
    assert route_side(route="billing", user_id=user) == (REMOTE if cohort_bucket(b"u:" + str(user).encode()) < 50
                                                         else LOCAL)


@pytest.mark.django_db
def test_an_unreadable_store_is_counted_and_shown_in_the_kit_status(store, settings):
    from strangler.django.status import kit_status

    _flip(store, Mode.SERVICE)
    assert route_side(route="billing") == REMOTE
    assert kit_status()["route_followers"] == {"billing": {"read_failures": 0, "stale_seconds": None}}
    follower = route_follower.route_follower(route="billing")
    follower.url = f"postgresql://strangler@127.0.0.1:{free_port()}/routes"  # the store goes away
    follower.close()
    assert route_side(route="billing") == REMOTE  # the last state is kept...
    assert route_side(route="billing") == REMOTE
    followed = kit_status()["route_followers"]["billing"]
    assert followed["read_failures"] == 2 and followed["stale_seconds"] >= 0  # ...and counted
    follower.url = settings.STRANGLER_STORE_URL  # back
    assert route_side(route="billing") == REMOTE
    assert kit_status()["route_followers"]["billing"] == {"read_failures": 2, "stale_seconds": None}
