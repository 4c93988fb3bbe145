"""Keeping the monolith's payments and the payments service's equal while both may write.

Every payment write publishes a ``PaymentSynced`` snapshot; the other side applies it here, and
the backfill feeds whole batches through the same merge rule (extracted/payments/README.md,
"Continuous sync"):

1. a missing payment is inserted; an existing one is replaced only by a higher ``revision``;
2. refunds are inserted when missing (by id) and never changed;
3. ``refunded_minor`` becomes the sum of the refunds held.

Applying writes no outbox row, so a snapshot never echoes back to where it came from.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction

from monolith.kernel.errors import Conflict, ValidationFailed
from monolith.payments import sync_sql
from monolith.payments.events import PaymentSynced
from monolith.payments.models import Payment, Refund
from monolith.payments.sync_rows import (
    PAYMENT_FIELDS,
    REFUND_FIELDS,
    RowErrors,
    clean_idempotency_records,
    clean_payments,
    clean_refunds,
)

ORIGINS = ("monolith", "payments-service")
_REVISION, _REFUNDED = PAYMENT_FIELDS.index("revision"), PAYMENT_FIELDS.index("refunded_minor")


def sync_origin() -> str:
    """Who this process is: the same package runs in the monolith and in the payments service."""
    return getattr(settings, "PAYMENTS_ORIGIN", "monolith")


def _jsonable(value: Any) -> Any:
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, dt.datetime):
        return value.isoformat()
    return value


def refund_snapshot(*, refund: Refund) -> dict[str, Any]:
    return {name: _jsonable(getattr(refund, name)) for name in REFUND_FIELDS}


def payment_snapshot(*, payment: Payment) -> dict[str, Any]:
    """The payment's own row, JSON-safe, in the field set of the PaymentSynced payload."""
    return {name: _jsonable(getattr(payment, name)) for name in PAYMENT_FIELDS}


def payment_synced_event(*, payment: Payment) -> PaymentSynced:
    """The snapshot event of ``payment`` as it stands in the current transaction (refunds by id)."""
    refunds = [refund_snapshot(refund=r) for r in Refund.objects.filter(payment_id=payment.id).order_by("id")]
    return PaymentSynced(payment=payment_snapshot(payment=payment), refunds=refunds, origin=sync_origin())


def _apply(*, payments: Any, refunds: Any, idempotency_records: Any) -> dict[str, int]:
    errors = RowErrors()
    payment_rows = clean_payments(payments, errors)
    refund_rows = clean_refunds(refunds, errors)
    record_rows = clean_idempotency_records(idempotency_records, errors)
    errors.raise_if_any()
    referenced = {row[1] for row in refund_rows} - {row[0] for row in payment_rows}
    if referenced:
        held = set(Payment.objects.filter(pk__in=referenced).values_list("pk", flat=True))
        for orphan in sorted(referenced - held)[:5]:
            errors.add("refunds", f"payment {orphan} is neither in the batch nor held here")
        errors.raise_if_any()
    try:
        with transaction.atomic():
            counts = {
                "payments": sync_sql.payments_upsert(payment_rows),
                "refunds": sync_sql.refunds_insert(refund_rows),
                "idempotency_records": sync_sql.idempotency_records_insert(record_rows),
            }
            # Rule 3, for payments with refunds in the batch or that ever had one (revision >= 3 or
            # refunded_minor > 0). Any other payment of the batch has revision <= 2 (claim, settle)
            # and cannot replace a copy holding refunds (each refund bumped that copy's revision), so
            # skipping it is exact and saves a join per row.
            touched = sorted({row[1] for row in refund_rows} | {row[0] for row in payment_rows
                                                                if row[_REVISION] >= 3 or row[_REFUNDED]})
            counts["recomputed"] = sync_sql.payments_refunded_recompute(touched)
    except IntegrityError as exc:
        # Unique idempotency keys under other ids, or refunds beyond the captured amount: the
        # batch contradicts what this side holds. Nothing was written (one transaction).
        raise SyncConflict(f"the sync batch conflicts with rows held here: {exc}") from exc
    return counts


class SyncConflict(Conflict):
    """Rows here clash with the batch. Usually a race: this side is inserting the same payment (same
    derived id and key) in a transaction not yet committed, and PostgreSQL reports the key index,
    which ON CONFLICT (id) does not arbitrate. Applying again after that commit succeeds; a clash
    that persists is a real contradiction, which reconcile shows."""

    code = "sync_conflict"


def payment_sync_apply(*, snapshot: dict) -> bool:
    """Merge one PaymentSynced payload; True when anything changed here."""
    if not isinstance(snapshot, dict) or not isinstance(snapshot.get("payment"), dict):
        raise ValidationFailed("a payment snapshot needs a payment object", code="sync_invalid")
    refunds = snapshot.get("refunds", [])
    payment_id = snapshot["payment"].get("id")
    if isinstance(refunds, list) and any(isinstance(r, dict) and r.get("payment_id") != payment_id for r in refunds):
        raise ValidationFailed("a snapshot's refunds must belong to its payment", code="sync_invalid")
    counts = _apply(payments=[snapshot["payment"]], refunds=refunds, idempotency_records=[])
    return any(counts.values())


def payments_sync_import(*, payments: list[dict], refunds: list[dict],
                         idempotency_records: list[dict]) -> dict[str, int]:
    """Merge a backfill batch; returns how many rows of each kind were written (inserted or, for
    payments, replaced by a higher revision). Invalid input raises ValidationFailed and writes nothing."""
    counts = _apply(payments=payments, refunds=refunds, idempotency_records=idempotency_records)
    return {"payments": counts["payments"], "refunds": counts["refunds"],
            "idempotency_records": counts["idempotency_records"]}
