"""What payments publishes while both stores may write (a cutover): after every payment write the
kit's snapshot of its spec's row as ``PaymentSynced``, and each completed answer of its API's
Idempotency-Key as ``IdempotencyRecordSynced``; the other side merges them with the kit's
``sync_snapshot_apply`` and ``idempotency_record_sync_apply`` (handlers.py)."""

from __future__ import annotations

from typing import Any

from monolith.payments.events import IdempotencyRecordSynced, PaymentSynced
from monolith.payments.extraction import IDEMPOTENCY_SCOPE_PREFIX, SPEC
from monolith.payments.models import Payment
from strangler.django.extraction.idempotency_copy import idempotency_record_snapshot
from strangler.django.extraction.importing import sync_snapshot_build


def payment_synced_event(*, payment: Payment) -> PaymentSynced:
    """The snapshot event of ``payment`` as it stands in the current transaction (refunds by id)."""
    return PaymentSynced(**sync_snapshot_build(spec=SPEC, instance=payment))


def idempotency_record_synced_event(*, record: Any) -> IdempotencyRecordSynced | None:
    """The sync event of a completed payments answer; None for other contexts' keys."""
    row = idempotency_record_snapshot(record=record, scope_prefix=IDEMPOTENCY_SCOPE_PREFIX)
    return None if row is None else IdempotencyRecordSynced(record=row, origin=SPEC.origin())
