"""Concurrent writes to one payment on both sides, as the PaymentSynced consumer applies them:
a same-revision clash is resolved by the declared policy and recorded; a refund merge that would
exceed the captured amount is refused (the held side kept), recorded, and never raised."""

import uuid

from monolith.payments.handlers import on_payment_synced
from monolith.payments.models import Payment, Refund
from monolith.payments.tests.factories import payment_row, payment_sync_apply, refund_row


def _envelope(payment, refunds=(), origin="payments-service"):
    return {"type": "payments.PaymentSynced", "event_id": str(uuid.uuid4()), "version": 1,
            "occurred_at": "2026-01-01T00:00:00+00:00",
            "payload": {"payment": payment, "refunds": list(refunds), "origin": origin}}


def _hold(payment, refunds=()):
    payment_sync_apply(snapshot={"payment": payment, "refunds": list(refunds), "origin": "monolith"})


def test_captured_beats_failed_at_the_same_revision(db):
    captured = payment_row("k-same", revision=2)
    failed = captured | {"status": "failed", "captured_minor": 0, "processor_ref": "", "failure_reason": "declined"}
    _hold(failed)
    on_payment_synced(_envelope(captured))
    held = Payment.objects.get(pk=captured["id"])
    assert (held.status, held.captured_minor) == ("captured", captured["captured_minor"])
    from strangler.django.extraction.models import SyncConflict

    conflict = SyncConflict.objects.get()
    assert (conflict.context, conflict.row_id, conflict.decision) == ("payments", captured["id"], "incoming")
    assert conflict.held["status"] == "failed" and conflict.incoming["status"] == "captured"


def test_a_refund_beyond_the_captured_amount_is_refused_and_recorded(db):
    payment = payment_row("k-refunds", amount_minor=1000, captured_minor=1000, revision=3, refunded_minor=700)
    mine, theirs = refund_row(payment, "r-mine", 700), refund_row(payment, "r-theirs", 700)
    _hold(payment, [mine])
    on_payment_synced(_envelope(payment, [theirs]))  # never raises: retrying cannot help
    held = Payment.objects.get(pk=payment["id"])
    assert held.refunded_minor == 700
    assert list(Refund.objects.values_list("idempotency_key", flat=True)) == ["r-mine"]
    from strangler.django.extraction.models import SyncConflict

    conflict = SyncConflict.objects.get()
    assert (conflict.context, conflict.row_id, conflict.decision) == ("payments", payment["id"], "held")


def test_reconcile_counts_the_conflicts_recorded_here(db):
    from strangler.django.extraction.conflicts import conflict_count

    payment = payment_row("k-count", amount_minor=1000, captured_minor=1000, revision=3, refunded_minor=700)
    _hold(payment, [refund_row(payment, "r-a", 700)])
    on_payment_synced(_envelope(payment, [refund_row(payment, "r-b", 700)]))
    on_payment_synced(_envelope(payment, [refund_row(payment, "r-b", 700)]))  # redelivered: refused again
    assert conflict_count(context="payments") == 2
