import uuid

import pytest
from django.db import transaction

from monolith.kernel.money import Money
from monolith.payments import interface as payments
from monolith.payments import services
from monolith.payments.models import Payment
from strangler.django.errors import Unprocessable, ValidationFailed
from strangler.django.outbox.models import OutboxMessage

EUR_25 = Money(2500, "EUR")


def _charge(token: str = "tok_visa", *, key: str | None = None, amount: Money = EUR_25,
            order_id: uuid.UUID | None = None, user_id: uuid.UUID | None = None) -> payments.PaymentDTO:
    return payments.payment_charge(order_id=order_id or uuid.uuid4(), user_id=user_id or uuid.uuid4(), amount=amount,
                                   card_token=token, idempotency_key=key or uuid.uuid4().hex)


def _events(type_name: str) -> list[dict]:
    return [m.envelope["payload"] for m in OutboxMessage.objects.filter(event_type=type_name).order_by("id")]


@pytest.mark.parametrize("token", ["tok_visa", "4242424242424242"])
def test_charge_captures(db, token):
    payment = _charge(token)
    assert (payment.status, payment.captured_minor, payment.failure_reason) == ("captured", 2500, "")
    assert payment.processor_ref.startswith("fake_ch_")
    assert _events("payments.PaymentCaptured") == [{
        "payment_id": str(payment.id), "order_id": str(payment.order_id), "user_id": str(payment.user_id),
        "amount_minor": 2500, "currency": "EUR",
    }]
    assert _events("payments.PaymentFailed") == []


@pytest.mark.parametrize(("token", "reason"), [
    ("tok_chargeDeclined", "card_declined"),
    ("4000000000000002", "card_declined"),
    ("tok_chargeDeclinedInsufficientFunds", "insufficient_funds"),
    ("4000000000009995", "insufficient_funds"),
    ("tok_unknown", "invalid_card"),
])
def test_refused_charge_is_a_recorded_failed_payment(db, token, reason):
    payment = _charge(token)
    assert (payment.status, payment.failure_reason, payment.captured_minor) == ("failed", reason, 0)
    assert Payment.objects.get(pk=payment.id).status == "failed"
    assert [e["reason"] for e in _events("payments.PaymentFailed")] == [reason]
    assert _events("payments.PaymentCaptured") == []


def test_same_key_charges_once(db, processor_calls):
    order_id, user_id = uuid.uuid4(), uuid.uuid4()
    first = _charge(key="k1", order_id=order_id, user_id=user_id)
    again = _charge(key="k1", order_id=order_id, user_id=user_id)
    assert again == first
    assert processor_calls == [("charge", "k1")]
    assert Payment.objects.count() == 1
    assert len(_events("payments.PaymentCaptured")) == 1


def test_same_key_for_another_charge_is_refused(db):
    order_id, user_id = uuid.uuid4(), uuid.uuid4()
    _charge(key="k1", order_id=order_id, user_id=user_id)
    with pytest.raises(Unprocessable):
        _charge(key="k1", order_id=order_id, user_id=user_id, amount=Money(1, "EUR"))
    assert Payment.objects.count() == 1


def test_a_pending_payment_left_by_a_crash_is_settled_by_the_retry(db, monkeypatch, processor_calls):
    order_id, user_id = uuid.uuid4(), uuid.uuid4()

    def crash(**kwargs):
        raise RuntimeError("worker died after the processor call")

    monkeypatch.setattr(services, "_payment_settle", crash)
    with pytest.raises(RuntimeError):
        _charge(key="k1", order_id=order_id, user_id=user_id)
    assert Payment.objects.get().status == "pending"
    monkeypatch.undo()
    payment = _charge(key="k1", order_id=order_id, user_id=user_id)
    assert payment.status == "captured"
    assert Payment.objects.count() == 1
    # The processor saw the same key twice, which it deduplicates: one charge on the card.
    assert {key for _, key in processor_calls} == {"k1"}


@pytest.mark.parametrize("token", ["tok_processorTimeout", "4000000000000119"])
def test_timeout_is_an_unknown_outcome_not_a_failure(db, token):
    payment = _charge(token, key="k1")
    assert (payment.status, payment.failure_reason, payment.captured_minor) == ("pending", "processor_timeout", 0)
    assert _events("payments.PaymentFailed") == [] and _events("payments.PaymentCaptured") == []
    assert [e["payment"]["revision"] for e in _events("payments.PaymentSynced")] == [1, 2]


def test_charged_then_timed_out_is_captured_once_when_asked_again(db, fake_processor_ledger):
    order_id, user_id = uuid.uuid4(), uuid.uuid4()
    first = _charge("tok_chargeThenTimeout", key="k1", order_id=order_id, user_id=user_id)
    assert (first.status, first.failure_reason) == ("pending", "processor_timeout")
    settled = _charge("tok_chargeThenTimeout", key="k1", order_id=order_id, user_id=user_id)
    assert (settled.id, settled.status, settled.failure_reason, settled.captured_minor) == (
        first.id, "captured", "", 2500)
    assert _charge("tok_chargeThenTimeout", key="k1", order_id=order_id, user_id=user_id) == settled
    assert fake_processor_ledger.captures() == 1
    assert len(_events("payments.PaymentCaptured")) == 1 and _events("payments.PaymentFailed") == []


def test_a_charge_refuses_to_run_inside_the_callers_transaction(db, processor_calls):
    # Holding a transaction open across the processor call is what item "no network call inside an
    # open transaction" forbids: the claim is a durable atomic block, so the charge refuses at once.
    with pytest.raises(RuntimeError, match="durable"), transaction.atomic():
        _charge()
    assert processor_calls == []
    assert Payment.objects.count() == 0
    assert OutboxMessage.objects.count() == 0


def test_status_change_and_event_commit_together(db, monkeypatch):
    real_outbox_add = services.outbox_add

    def broken_outbox(*, event):
        if event.type_name == "payments.PaymentCaptured":
            raise RuntimeError("outbox insert failed")
        return real_outbox_add(event=event)

    monkeypatch.setattr(services, "outbox_add", broken_outbox)
    with pytest.raises(RuntimeError):
        _charge()
    payment = Payment.objects.get()
    assert (payment.status, payment.captured_minor, payment.revision) == ("pending", 0, 1)  # rolled back with the event
    # Only the claim's snapshot remains: the settle's snapshot rolled back with the capture.
    assert [(m.event_type, m.envelope["payload"]["payment"]["revision"]) for m in OutboxMessage.objects.all()] == [
        ("payments.PaymentSynced", 1)]


def test_non_positive_charge_is_refused(db):
    with pytest.raises(ValidationFailed):
        _charge(amount=Money(0, "EUR"))
    assert Payment.objects.count() == 0
