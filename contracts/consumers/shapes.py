"""The shapes consumers expect from payments, as Pact matchers: field names and types are the
contract; ids, times and amounts are examples. Where a value itself is the contract (a status the
saga branches on, an error code, an event type) it is given exactly.

Example ids are fixed, so the pact files do not change from run to run (their hash is the
consumer version in the verification record).
"""

from __future__ import annotations

import uuid
from typing import Any

from pact import match

# Shapes of values, not values.
UUID_RE = r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"
DATETIME_RE = r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$"
CURRENCY_RE = r"^[A-Z]{3}$"
IDEMPOTENCY_KEY_RE = r"^[!-~]{1,255}$"  # visible ASCII, as strangler.django.idempotency.services accepts
TOKEN_AUTHORIZATION_RE = r"^Token [!-~]{1,256}$"

CREATED_AT = "2026-01-02T03:04:05.123456Z"
EXAMPLES = uuid.UUID("5b7c0d52-0c1e-4c8e-9d0a-0f6f3c2b9a10")


def example_id(name: str) -> str:
    """A stable example UUID per name (``payment:get``, ``order:list``...)."""
    return str(uuid.uuid5(EXAMPLES, name))


def monolith_credential(audience: str) -> Any:
    """The monolith's internal credential for ``audience`` (a service name: letters and dashes), as
    strangler.proxy.credentials mints it: v2.<caller>.<audience>.<expires>.<signature>; the caller
    and the audience are contract."""
    example = f"v2.monolith.{audience}.1700000000.c2lnbmF0dXJl"
    return match.regex(example, regex=rf"^v2\.monolith\.{audience}\.[0-9]+\.[A-Za-z0-9_-]+$")


def an_id(example: str) -> Any:
    return match.regex(example, regex=UUID_RE)


def a_time(example: str = CREATED_AT) -> Any:
    return match.regex(example, regex=DATETIME_RE)


def a_currency(example: str = "EUR") -> Any:
    return match.regex(example, regex=CURRENCY_RE)


def refund_public(*, payment_id: str, amount_minor: int = 500) -> dict[str, Any]:
    """A refund nested in a public payment."""
    return {"id": an_id(example_id(f"refund-of:{payment_id}")), "payment_id": an_id(payment_id),
            "amount_minor": match.int(amount_minor), "currency": a_currency(), "created_at": a_time()}


def refund_result(*, payment_id: str, amount_minor: int, refunded_total_minor: int) -> dict[str, Any]:
    """A refund as its POST answers it (public and internal API alike)."""
    return {"id": an_id(example_id(f"refund-result:{payment_id}")), "payment_id": an_id(payment_id),
            "amount_minor": match.int(amount_minor), "currency": a_currency(),
            "refunded_total_minor": match.int(refunded_total_minor), "created_at": a_time()}


def payment_public(*, payment_id: str, order_id: str, status: str = "captured", amount_minor: int = 2500,
                   refunded_minor: int = 0, failure_reason: str = "") -> dict[str, Any]:
    """A payment of /api/v1/payments as the storefront reads it. ``status`` is exact: apps show it."""
    captured = amount_minor if status == "captured" else 0
    refunds = (match.each_like(refund_public(payment_id=payment_id, amount_minor=refunded_minor), min=1)
               if refunded_minor else [])
    return {"id": an_id(payment_id), "order_id": an_id(order_id), "amount_minor": match.int(amount_minor),
            "currency": a_currency(), "status": status, "failure_reason": match.str(failure_reason),
            "captured_minor": match.int(captured), "refunded_minor": match.int(refunded_minor),
            "created_at": a_time(), "refunds": refunds}


def payment_internal(*, payment_id: str, order_id: str, user_id: str, status: str = "captured",
                     amount_minor: int = 2500, failure_reason: str = "") -> dict[str, Any]:
    """A payment of /internal/v1/payments as orders' remote client reads it. ``status`` is exact:
    the checkout saga branches on it."""
    captured = amount_minor if status == "captured" else 0
    return {"id": an_id(payment_id), "order_id": an_id(order_id), "user_id": an_id(user_id),
            "amount_minor": match.int(amount_minor), "currency": a_currency(), "status": status,
            "failure_reason": match.str(failure_reason), "captured_minor": match.int(captured),
            "refunded_minor": match.int(0), "created_at": a_time()}


def error_body(code: str, *, fields: dict[str, str] | None = None) -> dict[str, Any]:
    """The kernel's error shape. ``code`` is exact (clients branch on it); the message is any text;
    ``fields`` names the fields the client shows errors at, each with a list of messages."""
    body: dict[str, Any] = {"code": code, "message": match.str("what went wrong")}
    if fields is not None:
        body["fields"] = {name: match.each_like(match.str(text), min=1) for name, text in fields.items()}
    return {"error": body}
