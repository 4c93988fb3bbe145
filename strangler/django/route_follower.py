"""The route follower: a project's own calls to an extracted context follow the strangler's route
state, read from the proxy's route store, so one ``strangler set`` moves the proxy's client traffic
and the project's internal calls together.

Settings: ``STRANGLER_STORE_URL`` (the proxy's store), ``STRANGLER_ROUTE_CACHE_SECONDS`` (how
stale a followed state may be, 1 s by default) and ``STRANGLER_ROUTE_COHORTS`` (route name -> its
``cohort`` setting in the proxy's route table, with strangler.django.cohort's middleware). ``route_side(route=...)`` says which side serves a
call: "local" (this process's code) or "remote" (the extracted service).
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from typing import Any, Literal

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.signals import setting_changed

from strangler.control.store import Store
from strangler.django.cohort import request_cohort_key
from strangler.proxy.routing import cohort_bucket
from strangler.proxy.types import Mode, Route, RouteState, RouteTable

logger = logging.getLogger(__name__)

Side = Literal["local", "remote"]
LOCAL: Side = "local"
REMOTE: Side = "remote"
CACHE_SECONDS = 1.0
_SETTINGS = frozenset({"STRANGLER_STORE_URL", "STRANGLER_ROUTE_CACHE_SECONDS"})


def side_for(state: RouteState, *, user_id: uuid.UUID | None, cohort: bytes | None = None) -> Side:
    """The strangler's modes, for internal calls: shadow stays local (the monolith answers). A
    canary buckets by ``cohort`` (the proxy's key of the request being served, strangler.django.cohort)
    so the client's proxied and internal calls land on one side; without one, sticky per user;
    calls with neither stay local."""
    if state.mode is Mode.SERVICE:
        return REMOTE
    if state.mode is Mode.CANARY and (cohort is not None or user_id is not None):
        key = cohort if cohort is not None else b"u:" + str(user_id).encode()
        return REMOTE if cohort_bucket(key) < state.weight else LOCAL
    return LOCAL


class RouteFollower:
    """The route's state, re-read at most every ``cache_seconds``. Thread-safe.

    The store is opened at first use. When it cannot be read the last known state is kept (a
    store outage must not flip traffic); before any successful read the state is None (local).
    """

    def __init__(self, url: str, route: str, *, cache_seconds: float = CACHE_SECONDS) -> None:
        self.url = url
        self.route = route
        self._cache_seconds = cache_seconds
        self._lock = threading.Lock()
        self._store: Store | None = None
        self._state: RouteState | None = None
        self._read_at = float("-inf")
        self.read_failures = 0  # reads of the store that failed since this process started
        self._failing_since: float | None = None  # monotonic time of the first failure since the last read

    def health(self) -> dict[str, Any]:
        """Failed reads so far, and for how long the state has been stale (None: the last read worked)."""
        with self._lock:
            since = self._failing_since
            return {"read_failures": self.read_failures,
                    "stale_seconds": None if since is None else round(time.monotonic() - since, 1)}

    def state(self) -> RouteState | None:
        with self._lock:
            now = time.monotonic()
            if now - self._read_at >= self._cache_seconds:
                self._read_at = now  # also after a failure: one attempt per period, not per call
                self._refresh()
            return self._state

    def _refresh(self) -> None:
        try:
            if self._store is None:
                table = RouteTable(routes=(Route(name=self.route, prefix="/", service=self.route),), targets={})
                # Never seed: were the monolith to seed "monolith" first, the proxy file's initial
                # mode for the route would be lost.
                self._store = Store(self.url, table).open(seed=False)
            _, states = self._store.snapshot()
        except Exception:
            logger.exception("cannot read route %r from the strangler store; keeping %s", self.route,
                             self._state or "local (never read)")
            self.read_failures += 1
            if self._failing_since is None:
                self._failing_since = time.monotonic()
            self._close()
            return
        self._failing_since = None
        state = states.get(self.route)
        if state is None:
            logger.warning("route %r is not in the strangler store yet; keeping %s", self.route,
                           self._state or "local")
            return
        if state != self._state:
            logger.info("internal calls follow route %r: %s", self.route, state)
        self._state = state

    def _close(self) -> None:
        """Drop a store that failed, so the next period reconnects (e.g. after a server restart)."""
        if self._store is not None:
            try:
                self._store.close()
            except Exception:
                logger.debug("closing a failed strangler store", exc_info=True)
            self._store = None

    def close(self) -> None:
        with self._lock:
            self._close()


_lock = threading.Lock()
_followers: dict[tuple[str, float], RouteFollower] = {}


def route_follower(*, route: str, cache_seconds: float | None = None) -> RouteFollower:
    """This process's follower of ``route`` (one per route and cache period, built at first use)."""
    if cache_seconds is None:
        cache_seconds = float(getattr(settings, "STRANGLER_ROUTE_CACHE_SECONDS", CACHE_SECONDS))
    with _lock:
        follower = _followers.get((route, cache_seconds))
        if follower is None:
            url = getattr(settings, "STRANGLER_STORE_URL", "")
            if not url:
                raise ImproperlyConfigured(f"following the strangler route {route!r} needs STRANGLER_STORE_URL")
            follower = _followers[(route, cache_seconds)] = RouteFollower(url, route, cache_seconds=cache_seconds)
        return follower


def route_side(*, route: str, user_id: uuid.UUID | None = None, cache_seconds: float | None = None) -> Side:
    """The side that serves this call as the route's state says; local before the state is known."""
    state = route_follower(route=route, cache_seconds=cache_seconds).state()
    return LOCAL if state is None else side_for(state, user_id=user_id, cohort=request_cohort_key(route=route))


def route_followers_health() -> dict[str, dict[str, Any]]:
    """Per followed route in this process: failed store reads and staleness (strangler.django.status)."""
    with _lock:
        followers = list(_followers.values())
    return {follower.route: follower.health() for follower in followers}


def route_followers_reset() -> None:
    """Forget every follower (their store connections and cached states)."""
    with _lock:
        for follower in _followers.values():
            follower.close()
        _followers.clear()


def _on_setting_changed(*, setting: str, **kwargs: Any) -> None:
    if setting in _SETTINGS:
        route_followers_reset()


setting_changed.connect(_on_setting_changed, dispatch_uid="strangler.django.route_follower")
