"""Event consumers of payments: during a cutover, the snapshots the other payments store publishes
(payments and their refunds; completed Idempotency-Key answers of the payments API).

The consumer name is stable (the kit's inbox dedupes on (event_id, consumer)). A snapshot this
side published itself is skipped: it already holds that state, and applying is never re-published.
"""

from __future__ import annotations

from typing import Any

from django.dispatch import receiver

from monolith.payments.events import IdempotencyRecordSynced, PaymentSynced
from monolith.payments.extraction import SPEC
from monolith.payments.sync import idempotency_record_synced_event
from strangler.django.extraction.consumer import snapshot_apply, spec_snapshot_consume
from strangler.django.extraction.idempotency_copy import idempotency_record_sync_apply
from strangler.django.extraction.importing import SyncBatchConflict
from strangler.django.idempotency.signals import record_completed
from strangler.django.outbox.bus import subscribe
from strangler.django.outbox.services import outbox_add

SYNC_APPLY_CONSUMER = "payments.sync_apply"
IDEMPOTENCY_SYNC_APPLY_CONSUMER = "payments.idempotency_sync_apply"


@subscribe(PaymentSynced.type_name, consumer=SYNC_APPLY_CONSUMER)
def on_payment_synced(envelope: dict[str, Any]) -> None:
    spec_snapshot_consume(spec=SPEC, envelope=envelope)


@subscribe(IdempotencyRecordSynced.type_name, consumer=IDEMPOTENCY_SYNC_APPLY_CONSUMER)
def on_idempotency_record_synced(envelope: dict[str, Any]) -> None:
    snapshot_apply(envelope=envelope, origin=SPEC.origin(), transient=SyncBatchConflict,
                   apply=lambda payload: idempotency_record_sync_apply(spec=SPEC, snapshot=payload))


@receiver(record_completed, dispatch_uid="monolith.payments.idempotency_sync")
def on_record_completed(*, record: Any, **kwargs: Any) -> None:
    """A payments answer completed here: publish it with the sync (in the completing transaction)."""
    event = idempotency_record_synced_event(record=record)
    if event is not None:
        outbox_add(event=event)
