"""Reconcile checksums: one short digest per payment, equal on both stores iff the business data is.

Defined in extracted/payments/README.md ("Reconcile checksum"). Bookkeeping (revision, created_at,
updated_at) is left out on purpose: two stores agree when they hold the same money, not when
they wrote it at the same instant.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from monolith.payments.models import Payment, Refund

CHECKSUM_FIELDS = ("id", "order_id", "user_id", "amount_minor", "currency", "status", "failure_reason",
                   "processor_ref", "captured_minor", "refunded_minor", "idempotency_key")
REFUND_CHECKSUM_FIELDS = ("id", "amount_minor", "currency", "processor_ref", "idempotency_key")
MAX_PAGE = 10_000


def _text(value: Any) -> str:
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, str) and len(value) in (32, 36):
        try:  # UUIDs in canonical hyphenated lower-case form, whatever form they came in
            return str(uuid.UUID(value))
        except ValueError:
            return value
    return str(value)


def _digest(payment: Sequence[Any], refunds: Iterable[Sequence[Any]]) -> str:
    parts = [_text(v) for v in payment]
    # Canonical UUID strings sort like the UUIDs themselves.
    parts += sorted(":".join(_text(v) for v in r) for r in refunds)
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:32]


def payment_checksum(*, payment: Mapping[str, Any], refunds: Iterable[Mapping[str, Any]]) -> str:
    """Checksum of a payment and its refunds given as mappings (rows, snapshots, DTO dicts)."""
    return _digest([payment[f] for f in CHECKSUM_FIELDS], [[r[f] for f in REFUND_CHECKSUM_FIELDS] for r in refunds])


def payment_checksums_page(*, after: uuid.UUID | None, limit: int) -> tuple[list[list[str]], uuid.UUID | None]:
    """Up to ``limit`` [id, checksum] pairs in id order after ``after``; ``next`` is the id to pass
    as ``after`` for the following page, None on the last page. Two queries a page."""
    limit = max(1, min(limit, MAX_PAGE))
    payments = Payment.objects.order_by("id")
    if after is not None:
        payments = payments.filter(id__gt=after)
    rows = list(payments.values_list(*CHECKSUM_FIELDS)[:limit + 1])
    more = len(rows) > limit
    rows = rows[:limit]
    refunds: dict[uuid.UUID, list[tuple]] = {}
    if rows:
        if len(rows) < 500:
            held = Refund.objects.filter(payment_id__in=[r[0] for r in rows])
        else:  # a range is cheaper than a long IN list, and the page is id-ordered
            held = Refund.objects.filter(payment_id__gte=rows[0][0], payment_id__lte=rows[-1][0])
        for payment_id, *fields in held.values_list("payment_id", *REFUND_CHECKSUM_FIELDS):
            refunds.setdefault(payment_id, []).append(fields)
    page = [[str(r[0]), _digest(r, refunds.get(r[0], ()))] for r in rows]
    return page, (rows[-1][0] if more else None)


def payment_checksum_totals() -> dict[str, int]:
    return {"payments": Payment.objects.count(), "refunds": Refund.objects.count()}
