"""The storefront's clients: what end users' apps call, through the strangler proxy. This module
holds their one way of calling (``StorefrontClient``) and the payments client (``/api/v1/payments/``);
the products client is storefront_products.py.

They are the consumer side of the public APIs, kept small on purpose: typed results, one error
type that carries the API's JSON error code, and nothing else. Whether the monolith or an extracted
service answers is the proxy's business; these clients cannot tell, which is the point.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import uuid
from typing import Any

import requests

IDEMPOTENCY_HEADER = "Idempotency-Key"
TIMEOUT = (2.0, 10.0)  # (connect, read) seconds


@dataclasses.dataclass(frozen=True, slots=True)
class Refund:
    id: uuid.UUID
    payment_id: uuid.UUID
    amount_minor: int
    currency: str
    created_at: dt.datetime


@dataclasses.dataclass(frozen=True, slots=True)
class Payment:
    id: uuid.UUID
    order_id: uuid.UUID
    amount_minor: int
    currency: str
    status: str  # "pending" | "captured" | "failed"
    failure_reason: str
    captured_minor: int
    refunded_minor: int
    created_at: dt.datetime
    refunds: tuple[Refund, ...]


@dataclasses.dataclass(frozen=True, slots=True)
class RefundResult:
    """A refund as its POST answers it, with the payment's refunded total after it."""

    id: uuid.UUID
    payment_id: uuid.UUID
    amount_minor: int
    currency: str
    refunded_total_minor: int
    created_at: dt.datetime


class StorefrontError(Exception):
    """The API refused the call. ``code`` is the API's error code (``card_declined``,
    ``refund_exceeds_captured``, ``payment_not_found``, ``validation_error``, ...): apps branch on
    it, never on the message."""

    def __init__(self, status: int, code: str, message: str,
                 fields: dict[str, list[str]] | None = None) -> None:
        super().__init__(f"HTTP {status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.fields = fields or {}


class StorefrontClient:
    """Calls of one app user; ``token`` is their API token (None: an anonymous visitor)."""

    def __init__(self, base_url: str, token: str | None = None, session: requests.Session | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self._token = token
        self._session = session or requests.Session()

    def _call(self, method: str, path: str, *, json: Any = None, params: dict[str, str] | None = None,
              idempotency_key: str | None = None) -> Any:
        headers = {"Accept": "application/json"}
        if self._token is not None:
            headers["Authorization"] = f"Token {self._token}"
        if idempotency_key is not None:
            headers[IDEMPOTENCY_HEADER] = idempotency_key
        response = self._session.request(method, self.base_url + path, json=json, params=params,
                                         headers=headers, timeout=TIMEOUT)
        try:
            data = response.json()
        except ValueError:
            data = None
        if response.status_code >= 400:
            raise _error(response.status_code, data)
        return data


class StorefrontPaymentsClient(StorefrontClient):
    """One shopper's view of their payments (their token is required)."""

    def __init__(self, base_url: str, token: str, session: requests.Session | None = None) -> None:
        super().__init__(base_url, token, session)

    def payments_list(self, *, order_id: uuid.UUID | None = None) -> list[Payment]:
        params = {"order_id": str(order_id)} if order_id is not None else None
        return [_payment(row) for row in self._call("GET", "/api/v1/payments/", params=params)]

    def payment_get(self, payment_id: uuid.UUID) -> Payment:
        return _payment(self._call("GET", f"/api/v1/payments/{payment_id}/"))

    def payment_charge(self, *, order_id: uuid.UUID, amount_minor: int, currency: str, card_token: str,
                       idempotency_key: str) -> Payment:
        """A declined card raises StorefrontError (402, code = the decline reason); retrying with
        the same key replays the first answer and never charges twice."""
        body = {"order_id": str(order_id), "amount_minor": amount_minor, "currency": currency,
                "card_token": card_token}
        return _payment(self._call("POST", "/api/v1/payments/", json=body, idempotency_key=idempotency_key))

    def payment_refund(self, payment_id: uuid.UUID, *, idempotency_key: str, amount_minor: int | None = None,
                       currency: str | None = None) -> RefundResult:
        """``amount_minor`` None refunds whatever is left."""
        body: dict[str, Any] = {}
        if amount_minor is not None:
            body["amount_minor"] = amount_minor
        if currency is not None:
            body["currency"] = currency
        data = self._call("POST", f"/api/v1/payments/{payment_id}/refunds/", json=body,
                          idempotency_key=idempotency_key)
        return RefundResult(id=uuid.UUID(data["id"]), payment_id=uuid.UUID(data["payment_id"]),
                            amount_minor=as_int(data["amount_minor"]), currency=str(data["currency"]),
                            refunded_total_minor=as_int(data["refunded_total_minor"]),
                            created_at=_datetime(data["created_at"]))


def _error(status: int, data: Any) -> StorefrontError:
    error = data.get("error") if isinstance(data, dict) else None
    if not isinstance(error, dict) or not isinstance(error.get("code"), str):
        return StorefrontError(status, "unexpected_response", f"HTTP {status} without the API's error body")
    fields = error.get("fields") if isinstance(error.get("fields"), dict) else {}
    return StorefrontError(status, error["code"], str(error.get("message") or error["code"]), fields)


def as_int(value: Any) -> int:
    """A JSON integer (not a bool, not a float): what an ``*_minor`` or count field must be."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"not an integer: {value!r}")
    return value


def _datetime(value: str) -> dt.datetime:
    parsed = dt.datetime.fromisoformat(value)
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=dt.UTC)


def _refund(row: dict[str, Any]) -> Refund:
    return Refund(id=uuid.UUID(row["id"]), payment_id=uuid.UUID(row["payment_id"]),
                  amount_minor=as_int(row["amount_minor"]), currency=str(row["currency"]),
                  created_at=_datetime(row["created_at"]))


def _payment(row: dict[str, Any]) -> Payment:
    return Payment(
        id=uuid.UUID(row["id"]), order_id=uuid.UUID(row["order_id"]), amount_minor=as_int(row["amount_minor"]),
        currency=str(row["currency"]), status=str(row["status"]), failure_reason=str(row["failure_reason"]),
        captured_minor=as_int(row["captured_minor"]), refunded_minor=as_int(row["refunded_minor"]),
        created_at=_datetime(row["created_at"]), refunds=tuple(_refund(r) for r in row["refunds"]),
    )
