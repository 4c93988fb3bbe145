"""Reads for the backfill: pages of this store's payments (with their refunds) and of its completed
payments idempotency records, already in the JSON form the sync import takes.

Keyset pagination (payments by id, records by pk) so a page costs the same at the end of a table
of millions as at its start, and so a checkpoint is just the last key sent.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from monolith.kernel.models import IdempotencyRecord
from monolith.payments.models import Payment, Refund
from monolith.payments.sync_rows import (
    IDEMPOTENCY_COMPLETED,
    IDEMPOTENCY_FIELDS,
    IDEMPOTENCY_SCOPE_PREFIX,
    PAYMENT_FIELDS,
    REFUND_FIELDS,
)


def _jsonable(value: Any) -> Any:
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, dt.datetime):
        return value.isoformat()
    return value


def _dicts(names: tuple[str, ...], rows: list[tuple]) -> list[dict[str, Any]]:
    return [dict(zip(names, map(_jsonable, row), strict=True)) for row in rows]


def payments_export_page(*, after: uuid.UUID | None, limit: int) -> tuple[list[dict], list[dict]]:
    """Up to ``limit`` payments after ``after`` in id order, and every refund of those payments."""
    payments = Payment.objects.order_by("id")
    if after is not None:
        payments = payments.filter(id__gt=after)
    rows = list(payments.values_list(*PAYMENT_FIELDS)[:limit])
    if not rows:
        return [], []
    # The page is id-ordered: a range finds its refunds through the payment_id index without a
    # long IN list.
    refunds = list(Refund.objects.filter(payment_id__gte=rows[0][0], payment_id__lte=rows[-1][0])
                   .order_by("id").values_list(*REFUND_FIELDS))
    return _dicts(PAYMENT_FIELDS, rows), _dicts(REFUND_FIELDS, refunds)


def _idempotency_records():
    return IdempotencyRecord.objects.filter(state=IDEMPOTENCY_COMPLETED, scope__startswith=IDEMPOTENCY_SCOPE_PREFIX)


def idempotency_export_page(*, after: int, limit: int) -> tuple[list[dict], int | None]:
    """Up to ``limit`` completed payments records with pk > ``after``; the last pk (None if none)."""
    rows = list(_idempotency_records().filter(pk__gt=after).order_by("pk").values_list("pk", *IDEMPOTENCY_FIELDS)[:limit])
    if not rows:
        return [], None
    return _dicts(IDEMPOTENCY_FIELDS, [row[1:] for row in rows]), rows[-1][0]


def export_totals() -> dict[str, int]:
    return {"payments": Payment.objects.count(), "refunds": Refund.objects.count(),
            "idempotency_records": _idempotency_records().count()}
