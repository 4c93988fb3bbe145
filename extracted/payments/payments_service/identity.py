"""Who an end-user token belongs to, asked of the monolith (which owns users) and cached briefly.

Contract: ``POST {MONOLITH_URL}/internal/v1/users/introspect/`` with ``{"token": key}`` and this
service's internal credential answers 200 ``{"active": true, "user_id": "<uuid>"}`` or
``{"active": false}``. Anything else (refused connection, timeout, 4xx/5xx, another body) means
"cannot tell", which is a 503 for the client, never a 401: a healthy token must not look revoked
because the monolith hiccupped.

Answers are cached in-process: active ones 30 s (a revoked token keeps working that long at most,
the price of not asking on every request), inactive ones 5 s (a token minted a moment ago is not
refused for long). The cache is bounded (least recently used out) and keyed by a hash of the token.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

import requests
from django.conf import settings
from django.core.signals import setting_changed
from django.dispatch import receiver
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from payments_service.exceptions import IdentityUnavailable
from strangler.django.internal_auth import HEADER, CredentialSource, internal_credentials

logger = logging.getLogger(__name__)

INTROSPECT_PATH = "/internal/v1/users/introspect/"
ACTIVE_TTL = 30.0
INACTIVE_TTL = 5.0
MAX_ENTRIES = 10_000
POOL_SIZE = 32  # >= gunicorn threads per worker, so no request waits for a pooled connection

_MISS = object()


class TokenIntrospector:
    """Thread-safe: gunicorn's gthread workers share one instance per process."""

    def __init__(self, *, monolith_url: str, credentials: CredentialSource, timeout: tuple[float, float],
                 active_ttl: float = ACTIVE_TTL, inactive_ttl: float = INACTIVE_TTL,
                 max_entries: int = MAX_ENTRIES, clock: Callable[[], float] = time.monotonic) -> None:
        self.url = monolith_url.rstrip("/") + INTROSPECT_PATH
        self._credentials = credentials
        self._timeout = timeout
        self._active_ttl, self._inactive_ttl = active_ttl, inactive_ttl
        self._max_entries = max_entries
        self._clock = clock
        self._lock = threading.Lock()
        self._cache: OrderedDict[str, tuple[float, uuid.UUID | None]] = OrderedDict()
        self._session: requests.Session | None = None

    def user_id(self, token: str) -> uuid.UUID | None:
        """The token's user id, or None when the monolith says the token is not active.

        Raises IdentityUnavailable when the monolith cannot answer."""
        cache_key = hashlib.sha256(token.encode()).hexdigest()
        cached = self._cached(cache_key)
        if cached is not _MISS:
            return cached  # type: ignore[return-value]
        user_id = self._ask(token)
        self._remember(cache_key, user_id)
        return user_id

    def _cached(self, cache_key: str) -> Any:
        with self._lock:
            entry = self._cache.get(cache_key)
            if entry is None:
                return _MISS
            expires_at, user_id = entry
            if expires_at <= self._clock():
                del self._cache[cache_key]
                return _MISS
            self._cache.move_to_end(cache_key)
            return user_id

    def _remember(self, cache_key: str, user_id: uuid.UUID | None) -> None:
        ttl = self._active_ttl if user_id is not None else self._inactive_ttl
        with self._lock:
            self._cache[cache_key] = (self._clock() + ttl, user_id)
            self._cache.move_to_end(cache_key)
            while len(self._cache) > self._max_entries:
                self._cache.popitem(last=False)

    def _session_get(self) -> requests.Session:
        # Built at first use, not at import: no pool exists in processes that never authenticate
        # (manage.py, the worker), and forked gunicorn workers do not share sockets.
        with self._lock:
            if self._session is None:
                session = requests.Session()
                # One quick retry of a refused/reset connection (e.g. the monolith restarting);
                # never of a read timeout, which already cost the client its wait.
                retry = Retry(total=1, connect=1, read=0, status=0, other=0, backoff_factor=0,
                              allowed_methods=None, raise_on_status=False)
                adapter = HTTPAdapter(pool_connections=1, pool_maxsize=POOL_SIZE, max_retries=retry)
                session.mount("http://", adapter)
                session.mount("https://", adapter)
                self._session = session
            return self._session

    def _ask(self, token: str) -> uuid.UUID | None:
        try:
            response = self._session_get().post(
                self.url, json={"token": token}, headers={HEADER: self._credentials.current()},
                timeout=self._timeout, allow_redirects=False,
            )
        except requests.RequestException as exc:
            logger.warning("token introspection at %s failed: %s", self.url, exc.__class__.__name__)
            raise IdentityUnavailable() from exc
        if response.status_code != 200:
            # 401 here means our credential was refused: a configuration error, not a bad user token.
            logger.error("token introspection at %s answered %s", self.url, response.status_code)
            raise IdentityUnavailable()
        try:
            body = response.json()
            if body.get("active") is True:
                return uuid.UUID(str(body["user_id"]))
            if body.get("active") is False:
                return None
        except (ValueError, KeyError, AttributeError, TypeError):
            pass
        logger.error("token introspection at %s answered an unexpected body", self.url)
        raise IdentityUnavailable()


MONOLITH_AUDIENCE = "monolith"  # the monolith's name for internal credentials (its INTERNAL_AUTH_CALLER)
_introspector: TokenIntrospector | None = None
_introspector_lock = threading.Lock()


def introspector_get() -> TokenIntrospector:
    """The process's introspector, built from settings at first use."""
    global _introspector
    with _introspector_lock:
        if _introspector is None:
            _introspector = TokenIntrospector(
                monolith_url=settings.MONOLITH_URL,
                credentials=internal_credentials(MONOLITH_AUDIENCE),
                timeout=(settings.IDENTITY_CONNECT_TIMEOUT, settings.IDENTITY_READ_TIMEOUT),
            )
        return _introspector


def introspector_reset() -> None:
    """Forget the introspector (and its cache); the next request builds one from current settings."""
    global _introspector
    with _introspector_lock:
        _introspector = None


_SETTINGS_USED = {"MONOLITH_URL", "INTERNAL_AUTH_SECRET", "INTERNAL_AUTH_KEYS", "INTERNAL_AUTH_CALLER",
                  "IDENTITY_CONNECT_TIMEOUT", "IDENTITY_READ_TIMEOUT"}


@receiver(setting_changed)
def _settings_changed(*, setting: str, **kwargs: Any) -> None:
    # Tests override settings; a stale introspector would keep the old URL or secret.
    if setting in _SETTINGS_USED:
        introspector_reset()
