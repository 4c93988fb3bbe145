"""The sync merge rule (snapshot apply and bulk import) and the import's input checks."""

import uuid

import pytest

from monolith.kernel.money import Money
from monolith.payments import services
from monolith.payments.extraction import SPEC
from monolith.payments.models import Payment, Refund
from monolith.payments.tests.factories import (
    CREATED,
    idempotency_row,
    payment_row,
    payment_sync_apply,
    payments_sync_import,
    refund_row,
)
from strangler.django.errors import ValidationFailed
from strangler.django.extraction import upsert
from strangler.django.extraction.importing import SyncBatchConflict as SyncConflict
from strangler.django.extraction.importing import sync_snapshot_build
from strangler.django.idempotency.models import IdempotencyRecord
from strangler.django.outbox.bus import dispatch
from strangler.django.outbox.models import ConsumerFailure, OutboxMessage
from strangler.django.outbox.tasks import dispatch_event


def payment_snapshot(*, payment):
    return sync_snapshot_build(spec=SPEC, instance=payment)["payment"]


def _apply(payment, refunds=()):
    return payment_sync_apply(snapshot={"payment": payment, "refunds": list(refunds), "origin": "payments-service"})


def _held(payment_id):
    return Payment.objects.get(pk=payment_id)


def test_missing_payment_is_inserted_as_given(db):
    row = payment_row()
    assert _apply(row) is True
    assert payment_snapshot(payment=_held(row["id"])) == row  # ids, times and revision kept
    assert not OutboxMessage.objects.exists()  # applying never echoes


def test_higher_revision_replaces_lower_and_equal_do_not(db):
    row = payment_row(status="pending", captured_minor=0, processor_ref="", revision=1)
    _apply(row)
    settled = payment_row(revision=2, order_id=row["order_id"], user_id=row["user_id"])
    assert _apply(settled) is True
    assert (_held(row["id"]).status, _held(row["id"]).revision) == ("captured", 2)
    assert _apply(row) is False  # lower: ignored
    assert _apply(settled | {"processor_ref": "other"}) is False  # equal: ignored
    assert (_held(row["id"]).status, _held(row["id"]).processor_ref) == ("captured", settled["processor_ref"])


def test_refunds_are_a_union_and_refunded_minor_their_sum(db):
    payment = payment_row(revision=3, refunded_minor=500)
    first = refund_row(payment, "r1", 500)
    _apply(payment, [first])
    # The other side refunded concurrently: same revision, another refund.
    second = refund_row(payment, "r2", 700)
    assert _apply(payment | {"refunded_minor": 700}, [second]) is True
    held = _held(payment["id"])
    assert held.refunded_minor == 1200
    assert sorted(Refund.objects.values_list("idempotency_key", flat=True)) == ["r1", "r2"]
    # A refund is never changed once held.
    assert _apply(payment, [first | {"processor_ref": "changed"}]) is False
    assert Refund.objects.get(idempotency_key="r1").processor_ref == first["processor_ref"]


def test_a_higher_revision_without_our_refunds_keeps_refunded_minor_to_their_sum(db):
    payment = payment_row(revision=3, refunded_minor=500)
    _apply(payment, [refund_row(payment, "r1", 500)])
    _apply(payment | {"revision": 4, "refunded_minor": 0})
    assert _held(payment["id"]).refunded_minor == 500


def test_applying_a_service_snapshot_leaves_the_same_state_as_here(db, settings):
    """The monolith and the service end with identical rows: apply the outbox of one to the other."""
    payment = services.payment_charge(order_id=uuid.uuid4(), user_id=uuid.uuid4(), amount=Money(900, "EUR"),
                                      card_token="tok_visa", idempotency_key="k")
    services.payment_refund(payment_id=payment.id, amount=Money(100, "EUR"), idempotency_key="r")
    snapshots = [m.envelope["payload"] for m in OutboxMessage.objects.filter(event_type="payments.PaymentSynced")]
    expected = payment_snapshot(payment=_held(payment.id))
    Refund.objects.all().delete()
    Payment.objects.all().delete()
    for snapshot in reversed(snapshots):  # out of order on purpose
        payment_sync_apply(snapshot=snapshot)
    assert payment_snapshot(payment=_held(payment.id)) == expected
    assert Refund.objects.count() == 1


def _envelope(origin, payment):
    return {"type": "payments.PaymentSynced", "event_id": str(uuid.uuid4()), "occurred_at": CREATED, "version": 1,
            "payload": {"payment": payment, "refunds": [], "origin": origin}}


def test_consumer_applies_the_other_sides_snapshots_only(db, settings):
    settings.PAYMENTS_ORIGIN = "monolith"
    mine, theirs = payment_row("mine"), payment_row("theirs")
    dispatch(_envelope("monolith", mine))
    dispatch(_envelope("payments-service", theirs))
    assert list(Payment.objects.values_list("idempotency_key", flat=True)) == ["theirs"]
    assert not OutboxMessage.objects.exists()


def test_a_snapshot_that_fails_validation_is_a_dead_letter_at_once(db):
    assert dispatch_event.apply(args=[_envelope("payments-service", payment_row(currency="euro"))]).get() == 0
    assert not Payment.objects.exists()
    letter = ConsumerFailure.objects.get()
    assert letter.dead and letter.attempts == 1 and "snapshot fails validation" in letter.error


def test_import_writes_payments_refunds_and_records(db):
    payments = [payment_row(f"k{i}") for i in range(5)]
    payments[0] |= {"refunded_minor": 500, "revision": 3}
    refunds = [refund_row(payments[0], "r0", 500)]
    counts = payments_sync_import(payments=payments, refunds=refunds, idempotency_records=[idempotency_row()])
    assert counts == {"payments": 5, "refunds": 1, "idempotency_records": 1}
    record = IdempotencyRecord.objects.get()
    assert (record.scope, record.state, record.status_code, record.response_body) == (
        "payments.charge:u1", "completed", 201, {"id": "x", "status": "captured"})
    again = payments_sync_import(payments=payments, refunds=refunds, idempotency_records=[idempotency_row()])
    assert again == {"payments": 0, "refunds": 0, "idempotency_records": 0}
    assert Payment.objects.count() == 5 and _held(payments[0]["id"]).refunded_minor == 500


def test_each_import_writes_only_its_own_rows_even_in_one_transaction(db):
    """On PostgreSQL a large batch goes through a temporary table that lives as long as the
    connection: rows of an earlier import in the same transaction must not be written again."""
    size = upsert.COPY_MIN_ROWS
    first = [payment_row(f"a{i}") for i in range(size)]
    assert payments_sync_import(payments=first, refunds=[], idempotency_records=[])["payments"] == size
    Payment.objects.filter(id=first[0]["id"]).update(revision=1, processor_ref="changed here since")
    second = [payment_row(f"b{i}") for i in range(size)]
    assert payments_sync_import(payments=second, refunds=[], idempotency_records=[])["payments"] == size
    assert Payment.objects.get(id=first[0]["id"]).processor_ref == "changed here since"


def test_import_of_many_rows_spans_several_statements(db):
    payments = [payment_row(f"k{i}") for i in range(2500)]
    assert payments_sync_import(payments=payments, refunds=[], idempotency_records=[])["payments"] == 2500
    assert Payment.objects.count() == 2500


@pytest.mark.parametrize(("payments", "refunds", "records"), [
    ([payment_row(currency="eur")], [], []),
    ([payment_row(currency="EURO")], [], []),
    ([payment_row(amount_minor=-1)], [], []),
    ([payment_row(amount_minor="2500")], [], []),
    ([payment_row(amount_minor=True)], [], []),
    ([payment_row(status="refunded")], [], []),
    ([payment_row(id="not-a-uuid")], [], []),
    ([payment_row(created_at="2026-01-02T03:04:05")], [], []),  # no offset
    ([payment_row(captured_minor=3000)], [], []),
    ([payment_row(revision=0)], [], []),
    ([{k: v for k, v in payment_row().items() if k != "status"}], [], []),
    ([payment_row(), payment_row()], [], []),  # same id twice
    ("not a list", [], []),
    ([payment_row()], [refund_row(payment_row("elsewhere"))], []),  # refund of an unknown payment
    ([payment_row()], [{"id": "x"}], []),
    ([payment_row()], [], [idempotency_row(scope="orders.place:u1")]),
    ([payment_row()], [], [idempotency_row(state="pending")]),
])
def test_bad_import_is_refused_and_writes_nothing(db, payments, refunds, records):
    with pytest.raises(ValidationFailed) as refused:
        payments_sync_import(payments=payments, refunds=refunds, idempotency_records=records)
    assert refused.value.fields or refused.value.message
    assert not Payment.objects.exists() and not Refund.objects.exists() and not IdempotencyRecord.objects.exists()


def test_a_batch_contradicting_held_rows_is_refused_whole(db):
    payments_sync_import(payments=[payment_row("k1")], refunds=[], idempotency_records=[])
    clash = payment_row("k1", id=str(uuid.uuid4()))  # same key under another id
    with pytest.raises(SyncConflict) as refused:
        payments_sync_import(payments=[payment_row("k2"), clash], refunds=[], idempotency_records=[])
    assert (refused.value.code, refused.value.status_code) == ("sync_conflict", 409)
    assert list(Payment.objects.values_list("idempotency_key", flat=True)) == ["k1"]


def test_a_snapshot_that_keeps_clashing_is_retried_later_never_dropped(db):
    from monolith.payments.handlers import on_payment_synced

    payments_sync_import(payments=[payment_row("k1")], refunds=[], idempotency_records=[])
    clash = {"payment": payment_row("k1", id=str(uuid.uuid4())), "refunds": [], "origin": "elsewhere"}
    with pytest.raises(SyncConflict):  # the dispatch task retries it with backoff
        on_payment_synced({"event_id": str(uuid.uuid4()), "type": "payments.PaymentSynced", "payload": clash})
