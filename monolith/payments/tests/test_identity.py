"""Deterministic ids and event ids, revisions, and the PaymentSynced snapshot of every write."""

import uuid

import pytest
from django.db import transaction

from monolith.kernel.ids import PAYMENT_ID_NAMESPACE, REFUND_ID_NAMESPACE, event_id_for, id_from_key
from monolith.kernel.money import Money
from monolith.payments import services
from monolith.payments.models import Payment, Refund
from strangler.django.outbox.models import OutboxMessage

ORDER, USER = uuid.uuid4(), uuid.uuid4()


def _charge(key="order-1", token="tok_visa"):
    return services.payment_charge(order_id=ORDER, user_id=USER, amount=Money(2500, "EUR"),
                                   card_token=token, idempotency_key=key)


def _outbox(event_type=None):
    rows = OutboxMessage.objects.order_by("id")
    if event_type:
        rows = rows.filter(event_type=event_type)
    return list(rows)


def test_payment_and_refund_ids_come_from_their_keys(db):
    payment = _charge("orders.checkout:abc")
    assert payment.id == id_from_key(PAYMENT_ID_NAMESPACE, "orders.checkout:abc")
    refund = services.payment_refund(payment_id=payment.id, amount=Money(100, "EUR"), idempotency_key="refund-1")
    assert refund.id == id_from_key(REFUND_ID_NAMESPACE, "refund-1")


@pytest.mark.parametrize(("token", "event_type"), [("tok_visa", "payments.PaymentCaptured"),
                                                   ("tok_chargeDeclined", "payments.PaymentFailed")])
def test_settle_event_ids_are_derived_from_the_payment(db, token, event_type):
    payment = _charge(token=token)
    [message] = _outbox(event_type)
    assert message.event_id == event_id_for(event_type, payment.id)
    assert message.envelope["event_id"] == str(event_id_for(event_type, payment.id))


def test_refund_event_id_is_derived_from_the_refund(db):
    payment = _charge()
    refund = services.payment_refund(payment_id=payment.id, amount=Money(100, "EUR"), idempotency_key="r")
    [message] = _outbox("payments.PaymentRefunded")
    assert message.event_id == event_id_for("payments.PaymentRefunded", refund.id)


def test_revision_is_1_at_claim_2_when_settled_and_bumped_per_refund(db, monkeypatch):
    def crash(**kwargs):
        raise RuntimeError("died before settling")

    monkeypatch.setattr(services, "_payment_settle", crash)
    with pytest.raises(RuntimeError):
        _charge()
    assert Payment.objects.get().revision == 1
    monkeypatch.undo()
    payment = _charge()
    assert (payment.status, Payment.objects.get().revision) == ("captured", 2)
    services.payment_refund(payment_id=payment.id, amount=Money(100, "EUR"), idempotency_key="r1")
    services.payment_refund(payment_id=payment.id, amount=Money(100, "EUR"), idempotency_key="r2")
    services.payment_refund(payment_id=payment.id, amount=Money(100, "EUR"), idempotency_key="r2")  # replay
    assert Payment.objects.get().revision == 4


def test_every_write_records_a_snapshot(db, settings):
    settings.PAYMENTS_ORIGIN = "payments-service"
    payment = _charge()
    refund = services.payment_refund(payment_id=payment.id, amount=Money(300, "EUR"), idempotency_key="r1")
    snapshots = [m.envelope["payload"] for m in _outbox("payments.PaymentSynced")]
    assert [s["payment"]["revision"] for s in snapshots] == [1, 2, 3]
    assert [s["payment"]["status"] for s in snapshots] == ["pending", "captured", "captured"]
    assert {s["origin"] for s in snapshots} == {"payments-service"}
    last = snapshots[-1]
    assert set(last) == {"payment", "refunds", "origin"}
    assert set(last["payment"]) == {"id", "order_id", "user_id", "amount_minor", "currency", "status",
                                    "failure_reason", "processor_ref", "captured_minor", "refunded_minor",
                                    "idempotency_key", "revision", "created_at", "updated_at"}
    assert (last["payment"]["id"], last["payment"]["refunded_minor"]) == (str(payment.id), 300)
    assert last["refunds"] == [{
        "id": str(refund.id), "payment_id": str(payment.id), "amount_minor": 300, "currency": "EUR",
        "processor_ref": refund.processor_ref, "idempotency_key": "r1", "created_at": refund.created_at.isoformat(),
    }]
    assert last["payment"]["created_at"] == payment.created_at.isoformat()


def test_snapshot_rolls_back_with_the_write(db, monkeypatch):
    payment = _charge()
    real = services.outbox_add

    def fail_on_refund_snapshot(*, event):
        if event.type_name == "payments.PaymentSynced":
            raise RuntimeError("outbox down")
        return real(event=event)

    monkeypatch.setattr(services, "outbox_add", fail_on_refund_snapshot)
    before = OutboxMessage.objects.count()
    with pytest.raises(RuntimeError):
        services.payment_refund(payment_id=payment.id, amount=Money(100, "EUR"), idempotency_key="r1")
    assert (Refund.objects.count(), OutboxMessage.objects.count()) == (0, before)
    assert Payment.objects.get().revision == 2


def test_a_charge_inside_the_callers_transaction_writes_nothing(db):
    with pytest.raises(RuntimeError, match="durable"), transaction.atomic():
        _charge()
    assert not OutboxMessage.objects.exists() and not Payment.objects.exists()


def test_created_at_of_a_copied_row_is_kept(db):
    import datetime as dt

    old = dt.datetime(2020, 5, 1, tzinfo=dt.UTC)
    payment = Payment.objects.create(order_id=uuid.uuid4(), user_id=uuid.uuid4(), amount_minor=1, currency="EUR",
                                     idempotency_key="copied", created_at=old)
    assert Payment.objects.get(pk=payment.pk).created_at == old
