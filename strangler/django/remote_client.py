"""Base of a context's HTTP client to its extracted service's internal API: a pooled session,
(connect, read) timeouts, retries that resend the same Idempotency-Key, and a circuit breaker.

A context's client subclasses ``RemoteClient``, names its service and its exceptions, and adds
typed calls on top of ``_call``. Every call carries a fresh internal credential. Transport failures
(connection errors, timeouts, 502/503 and other 5xx without the kit's JSON error body) are retried
with full-jitter backoff behind one breaker, so a dead service costs callers a fast 503 instead of
a pile of hung threads. Answers of the service (refusals included) are not failures: they map onto
the kit's DomainErrors with the service's code, message and fields preserved. ``settings_client``
builds a process's one client from settings named by a prefix (``PAYMENTS_SERVICE_URL``, ...).
"""

from __future__ import annotations

import logging
import math
import os
import random
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any, ClassVar, Generic, TypeVar

import requests
from django.conf import settings as django_settings
from django.core.signals import setting_changed
from requests.adapters import HTTPAdapter

from strangler.django.errors import Conflict, DomainError, NotFound, Unprocessable, ValidationFailed
from strangler.django.internal_auth import HEADER as CREDENTIAL_HEADER
from strangler.django.internal_auth import CredentialSource, internal_credentials
from strangler.proxy.breaker import CircuitBreaker
from strangler.proxy.types import BreakerPolicy, BreakerState

logger = logging.getLogger(__name__)

POOL_SIZE = 32  # keep-alive connections per process; about the web threads of one worker
BACKOFF_BASE = 0.05  # seconds; doubled per retry, full jitter
BACKOFF_MAX = 1.0
IDEMPOTENCY_HEADER = "Idempotency-Key"  # strangler.django.idempotency.services.HEADER, on the way out
_RETRY_STATUSES = frozenset({502, 503})
_ERRORS: dict[int, type[DomainError]] = {400: ValidationFailed, 404: NotFound, 409: Conflict, 422: Unprocessable}


class ServiceUnavailable(DomainError):
    """The service could not be reached: breaker open or retries exhausted.

    Transient by nature: the same call with the same idempotency key may succeed later, so
    callers keep their state resumable and tell their clients when to come back. A context
    subclasses it with its own code (e.g. ``payments_unavailable``)."""

    status_code = 503
    code = "service_unavailable"


class _Transient(Exception):
    """One attempt that did not get an answer worth returning; the call may retry."""


class LockedBreaker:
    """strangler's CircuitBreaker is a pure state machine; web threads share one, so every
    transition happens under a lock."""

    def __init__(self, policy: BreakerPolicy) -> None:
        self._breaker = CircuitBreaker(policy)
        self._lock = threading.Lock()

    @property
    def state(self) -> BreakerState:
        with self._lock:
            return self._breaker.state

    def allow(self) -> bool:
        with self._lock:
            return self._breaker.allow()

    def on_success(self) -> None:
        with self._lock:
            self._breaker.on_success()

    def on_failure(self) -> None:
        with self._lock:
            self._breaker.on_failure()

    def on_cancel(self) -> None:
        with self._lock:
            self._breaker.on_cancel()

    def retry_after(self) -> int:
        """Whole seconds until a probe may go through; at least 1, as a Retry-After header."""
        with self._lock:
            return max(1, math.ceil(self._breaker.retry_after()))


def breaker_from(*, failures: int = 5, reset: float = 10.0) -> LockedBreaker:
    """A shared breaker: open after ``failures`` failed attempts in a row, probe after ``reset`` s."""
    return LockedBreaker(BreakerPolicy(failure_threshold=failures, reset_timeout=reset))


class RemoteClient:
    """An extracted service's internal API. Thread-safe; share one per process.

    Subclasses set ``service`` (its name in messages), ``unavailable`` (raised when no answer came
    through), ``bad_gateway_code`` (the code of an answer that makes no sense to the caller) and
    ``busy_codes``: 503 answers the service gives on purpose while it is healthy (e.g. stock being
    handed over). Those are retried like any 503 but are no failure of the service: they never
    open the breaker for the other calls."""

    service: ClassVar[str] = "remote"
    unavailable: ClassVar[type[DomainError]] = ServiceUnavailable
    bad_gateway_code: ClassVar[str] = "bad_gateway"
    busy_codes: ClassVar[frozenset[str]] = frozenset()

    def __init__(self, *, base_url: str, credentials: CredentialSource, connect_timeout: float,
                 read_timeout: float, retries: int, breaker: LockedBreaker,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.base_url = base_url.rstrip("/")
        self.breaker = breaker
        self._credentials = credentials
        self._credentials_lock = threading.Lock()
        self._timeout = (connect_timeout, read_timeout)
        self._retries = max(0, retries)
        self._sleep = sleep
        self._session = requests.Session()
        adapter = HTTPAdapter(pool_connections=1, pool_maxsize=POOL_SIZE, max_retries=0)
        self._session.mount("http://", adapter)
        self._session.mount("https://", adapter)

    def close(self) -> None:
        self._session.close()

    def _call(self, method: str, path: str, *, json: Any = None, params: dict[str, str] | None = None,
              idempotency_key: str | None = None) -> Any:
        """The JSON of a 200 answer; a DomainError for the service's refusals; ``unavailable``
        when no answer came through. Every retry sends the same ``idempotency_key``: a call whose
        answer was lost is then answered with its first outcome instead of running twice."""
        reason = "no attempt made"
        for attempt in range(self._retries + 1):
            if attempt:
                self._sleep(random.uniform(0, min(BACKOFF_MAX, BACKOFF_BASE * 2 ** attempt)))
            if not self.breaker.allow():
                reason = "circuit open" if attempt == 0 else f"circuit open after: {reason}"
                break
            try:
                return self._attempt(method, path, json=json, params=params, idempotency_key=idempotency_key)
            except _Transient as exc:
                reason = str(exc)
                logger.warning("%s %s %s attempt %d/%d failed: %s", self.service, method, path, attempt + 1,
                               self._retries + 1, reason)
        raise self.unavailable(f"the {self.service} service is unavailable ({reason}); retry later",
                               retry_after=self.breaker.retry_after())

    def _attempt(self, method: str, path: str, *, json: Any, params: dict[str, str] | None,
                 idempotency_key: str | None) -> Any:
        with self._credentials_lock:
            credential = self._credentials.current()
        headers = {CREDENTIAL_HEADER: credential, "Accept": "application/json"}
        if idempotency_key is not None:
            headers[IDEMPOTENCY_HEADER] = idempotency_key
        try:
            response = self._session.request(method, self.base_url + path, json=json, params=params,
                                             headers=headers, timeout=self._timeout)
            data = _json_or_none(response)
        except (requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError) as exc:
            self.breaker.on_failure()
            raise _Transient(f"{type(exc).__name__}: {exc}") from exc
        except BaseException:
            self.breaker.on_cancel()  # no verdict on the service (bad URL, interrupted): free the probe
            raise
        status, error = response.status_code, _error_of(data)
        if status == 503 and error is not None and error["code"] in self.busy_codes:
            self.breaker.on_success()  # it answered, and says when to come back
            raise _Transient(f"HTTP 503 {error['code']}")
        if status >= 500 and not (status == 504 and error is not None):
            self.breaker.on_failure()
            if status in _RETRY_STATUSES or error is None:
                raise _Transient(f"HTTP {status}")
            raise self.unavailable(f"the {self.service} service failed ({error['code']}); retry later",
                                   retry_after=self.breaker.retry_after())
        self.breaker.on_success()  # it answered: alive, whatever it said
        if status == 200:
            return data
        if status == 409 and error is not None and error["code"] == "request_in_progress":
            raise _Transient("the service still runs the first request with this key")
        raise self._refusal(status, error)

    def _refusal(self, status: int, error: dict[str, Any] | None) -> DomainError:
        if error is None:
            return DomainError(f"the {self.service} service answered HTTP {status}", code=self.bad_gateway_code,
                               status_code=502)
        message = str(error.get("message") or error["code"])
        fields = error.get("fields") if isinstance(error.get("fields"), dict) else {}
        if status in _ERRORS:
            return _ERRORS[status](message, code=error["code"], fields=fields)
        if status == 504:
            return DomainError(message, code=error["code"], fields=fields, status_code=504)
        # 401/403/405/...: our own call is wrong (secret, URL). Its code means nothing to our clients.
        logger.error("%s service refused our call: HTTP %s %s", self.service, status, error)
        return DomainError(f"the {self.service} service refused the call ({error['code']})",
                           code=self.bad_gateway_code, status_code=502)

    def _parsed(self, parse: Callable[[Any], Any], data: Any) -> Any:
        """``parse(data)``; an answer it cannot read is a 502 with ``bad_gateway_code``."""
        try:
            return parse(data)
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            logger.error("unreadable answer of the %s service: %r", self.service, data)
            raise DomainError(f"the {self.service} service sent an unreadable answer", code=self.bad_gateway_code,
                              status_code=502) from exc


def _json_or_none(response: requests.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


def _error_of(data: Any) -> dict[str, Any] | None:
    """The ``error`` object of the kit's error shape, or None when the body is something else."""
    error = data.get("error") if isinstance(data, dict) else None
    if isinstance(error, dict) and isinstance(error.get("code"), str):
        return error
    return None


C = TypeVar("C", bound=RemoteClient)


class ProcessClient(Generic[C]):
    """This process's one client, built by ``build`` at first use (after a fork, never at import:
    a forked child builds its own) and dropped when one of ``settings`` changes."""

    def __init__(self, build: Callable[[], C], *, settings: Iterable[str]) -> None:
        self._build = build
        self._settings = frozenset(settings)
        self._lock = threading.Lock()
        self._client: C | None = None
        self._pid = 0
        # Weak: a client holder that is dropped (tests) takes its receiver with it.
        setting_changed.connect(self._on_setting_changed, dispatch_uid=f"strangler.django.remote:{id(self)}")

    def get(self) -> C:
        with self._lock:
            if self._client is None or self._pid != os.getpid():
                self._client, self._pid = self._build(), os.getpid()
            return self._client

    def reset(self) -> None:
        """Forget the built client (its pool and breaker); the next call builds one."""
        with self._lock:
            if self._client is not None and self._pid == os.getpid():
                self._client.close()
            self._client = None

    def _on_setting_changed(self, *, setting: str, **kwargs: Any) -> None:
        if setting in self._settings:
            self.reset()


BREAKER_FAILURES = 5  # failed attempts in a row that open a client's breaker, unless <PREFIX>_BREAKER_FAILURES
BREAKER_RESET = 10.0  # seconds before a probe, unless <PREFIX>_BREAKER_RESET
_CREDENTIAL_SETTINGS = ("INTERNAL_AUTH_SECRET", "INTERNAL_AUTH_CALLER", "INTERNAL_AUTH_KEYS")


def settings_client(cls: type[C], *, prefix: str, url: str = "", audience: str = "") -> ProcessClient[C]:
    """This process's ``cls``, built from the settings ``<prefix>_CONNECT_TIMEOUT``, ``<prefix>_READ_TIMEOUT``,
    ``<prefix>_RETRIES`` and, when set, ``<prefix>_BREAKER_FAILURES`` and ``<prefix>_BREAKER_RESET``; its
    URL from the setting named ``url`` (default ``<prefix>_SERVICE_URL``) and its credentials for
    ``audience`` (default: the setting ``<prefix>_SERVICE_AUDIENCE``). Rebuilt when one of those
    settings, or the internal credentials' own, changes."""
    url_setting = url or f"{prefix}_SERVICE_URL"
    audience_setting = "" if audience else f"{prefix}_SERVICE_AUDIENCE"

    def build() -> C:
        def named(suffix: str, default: Any = None) -> Any:
            return getattr(django_settings, f"{prefix}_{suffix}", default)

        return cls(
            base_url=getattr(django_settings, url_setting),
            credentials=internal_credentials(audience or getattr(django_settings, audience_setting)),
            connect_timeout=float(named("CONNECT_TIMEOUT")), read_timeout=float(named("READ_TIMEOUT")),
            retries=int(named("RETRIES")),
            breaker=breaker_from(failures=int(named("BREAKER_FAILURES", BREAKER_FAILURES)),
                                 reset=float(named("BREAKER_RESET", BREAKER_RESET))),
        )

    names = {url_setting, *(f"{prefix}_{s}" for s in ("CONNECT_TIMEOUT", "READ_TIMEOUT", "RETRIES",
                                                        "BREAKER_FAILURES", "BREAKER_RESET")), *_CREDENTIAL_SETTINGS}
    if audience_setting:
        names.add(audience_setting)
    return ProcessClient(build, settings=names)
