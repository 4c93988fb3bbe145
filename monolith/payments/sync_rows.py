"""How payments' rows from the other store (sync snapshots, backfill batches) are checked, on the
kit's row checks (strangler.django.extraction.rows): what the models do not say is declared here,
with a fast path for the well-formed payments of a backfill."""

from __future__ import annotations

import functools
import re
from typing import Any

from strangler.django.extraction.rows import Invalid, RowShape, check_int, fast_datetime, fast_uuid

PAYMENT_FIELDS = ("id", "order_id", "user_id", "amount_minor", "currency", "status", "failure_reason",
                  "processor_ref", "captured_minor", "refunded_minor", "idempotency_key", "revision",
                  "created_at", "updated_at")
REFUND_FIELDS = ("id", "payment_id", "amount_minor", "currency", "processor_ref", "idempotency_key", "created_at")
STATUSES = frozenset({"pending", "captured", "failed"})
MAX_MINOR = 2**63 - 1
MAX_REVISION = 2**31 - 1
_CURRENCY = re.compile(r"^[A-Z]{3}\Z")


def _currency(value: Any) -> str:
    if not isinstance(value, str) or not _CURRENCY.match(value):
        raise Invalid("must be 3 upper-case letters")
    return value


def _payment_amounts(row: dict) -> tuple[str, str] | None:
    if row["captured_minor"] > row["amount_minor"]:
        return "captured_minor", "must be <= amount_minor"
    if row["refunded_minor"] > row["captured_minor"]:
        return "refunded_minor", "must be <= captured_minor"
    return None


def _payment_fast(row: Any) -> dict[str, Any] | None:
    """The common case (a well-formed row from our own export) in one pass, ~3x faster than the
    field-by-field checks; None sends the row to those checks, which name the problem."""
    try:
        amount, captured, refunded, revision = (row["amount_minor"], row["captured_minor"], row["refunded_minor"],
                                                row["revision"])
        if not (type(amount) is int and type(captured) is int and type(refunded) is int and type(revision) is int
                and 0 <= refunded <= captured <= amount <= MAX_MINOR and 1 <= revision <= MAX_REVISION):
            return None
        currency, failure, ref, key = row["currency"], row["failure_reason"], row["processor_ref"], row["idempotency_key"]
        if not (type(currency) is str and len(currency) == 3 and currency.isascii() and currency.isalpha()
                and currency.isupper() and row["status"] in STATUSES and type(failure) is str and len(failure) <= 64
                and type(ref) is str and len(ref) <= 128 and type(key) is str and 1 <= len(key) <= 400):
            return None
        return {"id": fast_uuid(row["id"]), "order_id": fast_uuid(row["order_id"]),
                "user_id": fast_uuid(row["user_id"]), "amount_minor": amount, "currency": currency,
                "status": row["status"], "failure_reason": failure, "processor_ref": ref, "captured_minor": captured,
                "refunded_minor": refunded, "idempotency_key": key, "revision": revision,
                "created_at": fast_datetime(row["created_at"]), "updated_at": fast_datetime(row["updated_at"])}
    except (Invalid, KeyError, TypeError, ValueError):
        return None


PAYMENT_ROWS = RowShape(model="payments.Payment", fields=PAYMENT_FIELDS, fast=_payment_fast, row_check=_payment_amounts,
                        overrides={"currency": _currency,
                                   "revision": functools.partial(check_int, low=1, high=MAX_REVISION)})
REFUND_ROWS = RowShape(model="payments.Refund", fields=REFUND_FIELDS,
                       overrides={"currency": _currency, "amount_minor": functools.partial(check_int, low=1,
                                                                                           high=MAX_MINOR)})
