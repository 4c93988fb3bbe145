"""HTTP client of the extracted payments service's internal API (extracted/payments/README.md).

One pooled ``requests.Session`` per process, built at first use (after a fork, never at import),
so web threads share keep-alive connections. Every call carries a fresh internal credential of
caller ``settings.INTERNAL_AUTH_CALLER`` and (connect, read) timeouts.

Transport failures (connection errors, timeouts, 502/503 and other 5xx without our JSON error
body) are retried ``settings.PAYMENTS_RETRIES`` times with full-jitter backoff, behind one
circuit breaker, so a dead service costs callers a fast 503 instead of a pile of hung threads.
Answers of the service (refusals included) are not failures: they map onto the kernel's
DomainErrors with the service's code, message and fields preserved.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
import os
import random
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

import requests
from django.conf import settings
from django.core.signals import setting_changed
from requests.adapters import HTTPAdapter

from monolith.kernel.errors import Conflict, DomainError, NotFound, Unprocessable, ValidationFailed
from monolith.kernel.money import Money
from monolith.payments.dtos import PaymentDTO, RefundDTO
from strangler.breaker import CircuitBreaker
from strangler.credentials import HEADER as CREDENTIAL_HEADER
from strangler.credentials import CredentialSource
from strangler.types import BreakerPolicy, BreakerState

logger = logging.getLogger(__name__)

POOL_SIZE = 32  # keep-alive connections per process; about the web threads of one worker
BACKOFF_BASE = 0.05  # seconds; doubled per retry, full jitter
BACKOFF_MAX = 1.0
IDEMPOTENCY_HEADER = "Idempotency-Key"
BAD_GATEWAY = "payments_bad_gateway"
_RETRY_STATUSES = frozenset({502, 503})
_ERRORS: dict[int, type[DomainError]] = {400: ValidationFailed, 404: NotFound, 409: Conflict, 422: Unprocessable}
# Settings a client is built from: changing one (tests, reconfiguration) drops the built client.
_SETTINGS = frozenset({
    "PAYMENTS_SERVICE_URL", "PAYMENTS_CONNECT_TIMEOUT", "PAYMENTS_READ_TIMEOUT", "PAYMENTS_RETRIES",
    "PAYMENTS_BREAKER_FAILURES", "PAYMENTS_BREAKER_RESET", "INTERNAL_AUTH_SECRET", "INTERNAL_AUTH_CALLER",
})


class PaymentsUnavailable(DomainError):
    """The payments service could not be reached: breaker open or retries exhausted.

    Transient by nature: the same call with the same idempotency key may succeed later, so
    callers keep their state resumable and tell their clients when to come back."""

    status_code = 503
    code = "payments_unavailable"


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


class PaymentsClient:
    """The internal payments API as typed calls. Thread-safe; share one per process."""

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

    # -- the internal API ----------------------------------------------------------------------
    def payment_charge(self, *, order_id: uuid.UUID, user_id: uuid.UUID, amount: Money, card_token: str,
                       idempotency_key: str) -> PaymentDTO:
        """Charge once per ``idempotency_key``.

        A charge whose request may have reached the service but whose answer was lost (read
        timeout, dropped connection, 502 from a proxy) is retried. That is safe only because
        every retry, and every later call by a resumed saga, sends the same domain key: the
        service answers with the first payment instead of charging again.
        """
        body = {"order_id": str(order_id), "user_id": str(user_id), "amount_minor": amount.amount_minor,
                "currency": amount.currency, "card_token": card_token}
        data = self._call("POST", "/internal/v1/payments/charges/", json=body, idempotency_key=idempotency_key)
        return _parsed(_payment, data)

    def payment_get(self, *, payment_id: uuid.UUID) -> PaymentDTO:
        return _parsed(_payment, self._call("GET", f"/internal/v1/payments/{payment_id}/"))

    def payments_list_by_order(self, *, order_id: uuid.UUID) -> list[PaymentDTO]:
        data = self._call("GET", "/internal/v1/payments/", params={"order_id": str(order_id)})
        return _parsed(lambda rows: [_payment(row) for row in rows], data)

    def payment_refund(self, *, payment_id: uuid.UUID, amount: Money | None, idempotency_key: str) -> RefundDTO:
        """Like charges, retried with the same key, so a lost answer never refunds twice."""
        body = {} if amount is None else {"amount_minor": amount.amount_minor, "currency": amount.currency}
        data = self._call("POST", f"/internal/v1/payments/{payment_id}/refunds/", json=body,
                          idempotency_key=idempotency_key)
        return _parsed(_refund, data)

    # -- transport -----------------------------------------------------------------------------
    def _call(self, method: str, path: str, *, json: Any = None, params: dict[str, str] | None = None,
              idempotency_key: str | None = None) -> Any:
        """The JSON of a 200 answer; a DomainError for the service's refusals; PaymentsUnavailable
        when no answer came through."""
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
                logger.warning("payments %s %s attempt %d/%d failed: %s", method, path, attempt + 1,
                               self._retries + 1, reason)
        raise PaymentsUnavailable(f"the payments service is unavailable ({reason}); retry later",
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
        if status >= 500 and not (status == 504 and error is not None):
            self.breaker.on_failure()
            if status in _RETRY_STATUSES or error is None:
                raise _Transient(f"HTTP {status}")
            raise PaymentsUnavailable(f"the payments service failed ({error['code']}); retry later",
                                      retry_after=self.breaker.retry_after())
        self.breaker.on_success()  # it answered: alive, whatever it said
        if status == 200:
            return data
        if status == 409 and error is not None and error["code"] == "request_in_progress":
            raise _Transient("the service still runs the first request with this key")
        raise _refusal(status, error)


def _json_or_none(response: requests.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


def _error_of(data: Any) -> dict[str, Any] | None:
    """The ``error`` object of our error shape, or None when the body is something else."""
    error = data.get("error") if isinstance(data, dict) else None
    if isinstance(error, dict) and isinstance(error.get("code"), str):
        return error
    return None


def _refusal(status: int, error: dict[str, Any] | None) -> DomainError:
    if error is None:
        return DomainError(f"the payments service answered HTTP {status}", code=BAD_GATEWAY, status_code=502)
    message = str(error.get("message") or error["code"])
    fields = error.get("fields") if isinstance(error.get("fields"), dict) else {}
    if status in _ERRORS:
        return _ERRORS[status](message, code=error["code"], fields=fields)
    if status == 504:
        return DomainError(message, code=error["code"], fields=fields, status_code=504)
    # 401/403/405/...: the monolith's own call is wrong (secret, URL). Its code means nothing to our clients.
    logger.error("payments service refused the monolith's call: HTTP %s %s", status, error)
    return DomainError(f"the payments service refused the call ({error['code']})", code=BAD_GATEWAY, status_code=502)


def _parsed(parse: Callable[[Any], Any], data: Any) -> Any:
    try:
        return parse(data)
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        logger.error("unreadable answer of the payments service: %r", data)
        raise DomainError("the payments service sent an unreadable answer", code=BAD_GATEWAY,
                          status_code=502) from exc


def _int(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"not an integer: {value!r}")
    return value


def _datetime(value: Any) -> dt.datetime:
    parsed = dt.datetime.fromisoformat(value)
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=dt.UTC)


def _payment(row: dict[str, Any]) -> PaymentDTO:
    return PaymentDTO(
        id=uuid.UUID(row["id"]), order_id=uuid.UUID(row["order_id"]), user_id=uuid.UUID(row["user_id"]),
        amount_minor=_int(row["amount_minor"]), currency=str(row["currency"]), status=str(row["status"]),
        failure_reason=str(row.get("failure_reason") or ""), processor_ref=str(row.get("processor_ref") or ""),
        captured_minor=_int(row["captured_minor"]), refunded_minor=_int(row["refunded_minor"]),
        created_at=_datetime(row["created_at"]),
    )


def _refund(row: dict[str, Any]) -> RefundDTO:
    return RefundDTO(
        id=uuid.UUID(row["id"]), payment_id=uuid.UUID(row["payment_id"]), amount_minor=_int(row["amount_minor"]),
        currency=str(row["currency"]), refunded_total_minor=_int(row["refunded_total_minor"]),
        created_at=_datetime(row["created_at"]),
    )


# -- the process's client ------------------------------------------------------------------------
_lock = threading.Lock()
_client: PaymentsClient | None = None
_client_pid = 0


def payments_client() -> PaymentsClient:
    """This process's client, built from settings at first use (a forked child builds its own)."""
    global _client, _client_pid
    with _lock:
        if _client is None or _client_pid != os.getpid():
            policy = BreakerPolicy(failure_threshold=int(getattr(settings, "PAYMENTS_BREAKER_FAILURES", 5)),
                                   reset_timeout=float(getattr(settings, "PAYMENTS_BREAKER_RESET", 10.0)))
            _client = PaymentsClient(
                base_url=settings.PAYMENTS_SERVICE_URL,
                credentials=CredentialSource(settings.INTERNAL_AUTH_SECRET, settings.INTERNAL_AUTH_CALLER),
                connect_timeout=settings.PAYMENTS_CONNECT_TIMEOUT, read_timeout=settings.PAYMENTS_READ_TIMEOUT,
                retries=settings.PAYMENTS_RETRIES, breaker=LockedBreaker(policy),
            )
            _client_pid = os.getpid()
        return _client


def payments_client_reset() -> None:
    """Forget the built client (its pool and breaker); the next call builds one from settings."""
    global _client
    with _lock:
        if _client is not None and _client_pid == os.getpid():
            _client.close()
        _client = None


def _on_setting_changed(*, setting: str, **kwargs: Any) -> None:
    if setting in _SETTINGS:
        payments_client_reset()


setting_changed.connect(_on_setting_changed, dispatch_uid="monolith.payments.remote")
