"""Which implementation serves a payments call: this process's code ("local") or the extracted
payments service ("remote").

``settings.PAYMENTS_IMPL`` pins one side, or says "follow": then the strangler's route state for
``settings.PAYMENTS_ROUTE`` decides, read from the proxy's own store, so one ``strangler set``
moves the proxy's client traffic and the monolith's internal calls together.
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

from strangler.routing import cohort_bucket
from strangler.store import Store
from strangler.types import Mode, Route, RouteState, RouteTable

logger = logging.getLogger(__name__)

Impl = Literal["local", "remote"]
LOCAL: Impl = "local"
REMOTE: Impl = "remote"
FOLLOW = "follow"
CACHE_SECONDS = 1.0  # how stale a followed route state may be; settings.PAYMENTS_ROUTE_CACHE_SECONDS overrides


def payments_impl(*, user_id: uuid.UUID | None = None) -> Impl:
    """The side that serves this call. ``user_id`` keeps a canary sticky per user; calls without
    one stay local during a canary (there is no cohort to be sticky about)."""
    configured = settings.PAYMENTS_IMPL
    if configured == LOCAL or configured == REMOTE:
        return configured
    if configured != FOLLOW:
        raise ImproperlyConfigured(f"PAYMENTS_IMPL must be 'local', 'remote' or 'follow', not {configured!r}")
    state = _follower().state()
    return LOCAL if state is None else impl_for(state, user_id=user_id)


def impl_for(state: RouteState, *, user_id: uuid.UUID | None) -> Impl:
    """The strangler's modes, for internal calls: shadow stays local (the monolith answers)."""
    if state.mode is Mode.SERVICE:
        return REMOTE
    if state.mode is Mode.CANARY and user_id is not None:
        return REMOTE if cohort_bucket(b"u:" + str(user_id).encode()) < state.weight else LOCAL
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
                table = RouteTable(routes=(Route(name=self.route, prefix="/", service="payments"),), targets={})
                # Never seed: were the monolith to seed "monolith" first, the proxy file's initial
                # mode for the route would be lost.
                self._store = Store(self.url, table).open(seed=False)
            _, states = self._store.snapshot()
        except Exception:
            logger.exception("cannot read route %r from the strangler store; keeping %s", self.route,
                             self._state or "local (never read)")
            self._close()
            return
        state = states.get(self.route)
        if state is None:
            logger.warning("route %r is not in the strangler store yet; keeping %s", self.route,
                           self._state or "local")
            return
        if state != self._state:
            logger.info("payments follow route %r: %s", self.route, state)
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
_follower_instance: RouteFollower | None = None


def _follower() -> RouteFollower:
    global _follower_instance
    with _lock:
        if _follower_instance is None:
            if not settings.STRANGLER_STORE_URL:
                raise ImproperlyConfigured("PAYMENTS_IMPL=follow needs STRANGLER_STORE_URL")
            cache = float(getattr(settings, "PAYMENTS_ROUTE_CACHE_SECONDS", CACHE_SECONDS))
            _follower_instance = RouteFollower(settings.STRANGLER_STORE_URL, settings.PAYMENTS_ROUTE,
                                               cache_seconds=cache)
        return _follower_instance


def follower_reset() -> None:
    """Forget the follower (its store connection and cached state)."""
    global _follower_instance
    with _lock:
        if _follower_instance is not None:
            _follower_instance.close()
        _follower_instance = None


def _on_setting_changed(*, setting: str, **kwargs: Any) -> None:
    if setting in {"PAYMENTS_IMPL", "PAYMENTS_ROUTE", "STRANGLER_STORE_URL", "PAYMENTS_ROUTE_CACHE_SECONDS"}:
        follower_reset()


setting_changed.connect(_on_setting_changed, dispatch_uid="monolith.payments.switch")
