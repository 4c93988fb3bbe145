import uuid

import pytest

from monolith.kernel.money import Money
from monolith.payments import interface as payments
from monolith.payments.models import Payment, Refund
from strangler.django.errors import Conflict, Unprocessable
from strangler.django.outbox.models import OutboxMessage


@pytest.fixture
def captured(db) -> payments.PaymentDTO:
    return payments.payment_charge(order_id=uuid.uuid4(), user_id=uuid.uuid4(), amount=Money(1000, "EUR"),
                                   card_token="tok_visa", idempotency_key="charge-1")


def _refund(payment_id, amount, key=None):
    return payments.payment_refund(payment_id=payment_id, amount=amount, idempotency_key=key or uuid.uuid4().hex)


def _refunded_events() -> list[dict]:
    return [m.envelope["payload"] for m in OutboxMessage.objects.filter(event_type="payments.PaymentRefunded")
            .order_by("id")]


def test_full_refund(captured):
    refund = _refund(captured.id, None)
    assert (refund.amount_minor, refund.currency, refund.refunded_total_minor) == (1000, "EUR", 1000)
    assert payments.payment_get(payment_id=captured.id).refunded_minor == 1000
    [event] = _refunded_events()
    assert event == {"payment_id": str(captured.id), "refund_id": str(refund.id), "order_id": str(captured.order_id),
                     "amount_minor": 1000, "currency": "EUR", "refunded_total_minor": 1000}


def test_partial_refunds_never_exceed_captured(captured):
    _refund(captured.id, Money(300, "EUR"))
    _refund(captured.id, Money(600, "EUR"))
    with pytest.raises(Conflict) as exc:
        _refund(captured.id, Money(101, "EUR"))
    assert exc.value.code == "refund_exceeds_captured"
    last = _refund(captured.id, None)
    assert last.amount_minor == 100
    with pytest.raises(Conflict) as exc:
        _refund(captured.id, None)
    assert exc.value.code == "already_refunded"
    assert Payment.objects.get(pk=captured.id).refunded_minor == 1000
    assert [e["refunded_total_minor"] for e in _refunded_events()] == [300, 900, 1000]


def test_currency_mismatch_is_refused(captured):
    with pytest.raises(Unprocessable) as exc:
        _refund(captured.id, Money(100, "USD"))
    assert exc.value.code == "currency_mismatch"
    assert Refund.objects.count() == 0


def test_refund_is_idempotent_per_key(captured, processor_calls):
    first = _refund(captured.id, Money(400, "EUR"), key="r1")
    again = _refund(captured.id, Money(400, "EUR"), key="r1")
    assert again.id == first.id
    assert Refund.objects.count() == 1
    assert processor_calls == [("refund", "r1")]
    with pytest.raises(Unprocessable):
        _refund(captured.id, Money(1, "EUR"), key="r1")


def test_a_failed_payment_cannot_be_refunded(db):
    failed = payments.payment_charge(order_id=uuid.uuid4(), user_id=uuid.uuid4(), amount=Money(1000, "EUR"),
                                     card_token="tok_chargeDeclined", idempotency_key="charge-2")
    with pytest.raises(Conflict) as exc:
        _refund(failed.id, None)
    assert exc.value.code == "payment_not_captured"
    assert Refund.objects.count() == 0


def test_a_refund_whose_recording_failed_is_finished_by_its_retry_and_reserves_its_amount(
        captured, monkeypatch, fake_processor_ledger):
    from monolith.payments import services

    real_outbox_add = services.outbox_add

    def outbox_down(*, event):
        if event.type_name == "payments.PaymentRefunded":
            raise RuntimeError("outbox insert failed after the processor refunded")
        return real_outbox_add(event=event)

    monkeypatch.setattr(services, "outbox_add", outbox_down)
    with pytest.raises(RuntimeError):
        _refund(captured.id, None, key="r1")
    monkeypatch.undo()
    assert fake_processor_ledger.refunds() == 1  # the money left at the processor ...
    # ... so another refund cannot take the same amount again before r1 is recorded.
    with pytest.raises(Conflict):
        _refund(captured.id, None, key="r2")
    assert fake_processor_ledger.refunds() == 1
    done = _refund(captured.id, None, key="r1")  # the retry asks again with r1 and records it
    assert (done.amount_minor, done.refunded_total_minor) == (1000, 1000)
    assert fake_processor_ledger.refunds() == 1
    assert Refund.objects.count() == 1 and len(_refunded_events()) == 1
