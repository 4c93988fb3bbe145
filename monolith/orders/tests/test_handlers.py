"""Payment events resume the checkout that waits for them (orders.handlers), through the real bus."""

from __future__ import annotations

import logging
import uuid

import pytest

from monolith.kernel.money import Money
from monolith.orders.models import CheckoutSaga, Order
from monolith.orders.services import charge_idempotency_key, order_checkout
from monolith.payments import interface as payments
from strangler.django.outbox import bus
from strangler.django.outbox.models import OutboxMessage
from tests.live_payments import free_port


@pytest.fixture
def waiting(order, settings):
    """A checkout stopped at stock_reserved because payments could not be reached."""
    settings.PAYMENTS_IMPL = "remote"
    settings.PAYMENTS_SERVICE_URL = f"http://127.0.0.1:{free_port()}"  # nobody listens
    settings.PAYMENTS_RETRIES = 0
    with pytest.raises(payments.PaymentsUnavailable):
        order_checkout(order_id=order.id, user_id=order.user_id, card_token="tok_visa")
    assert CheckoutSaga.objects.get(pk=order.id).step == "stock_reserved"
    settings.PAYMENTS_IMPL = "local"
    return order


def _settle(order, token: str) -> dict:
    """Payments settles the saga's charge (its answer never reached orders); returns the event's envelope."""
    payment = payments.payment_charge(order_id=order.id, user_id=order.user_id,
                                      amount=Money(order.total_minor, order.currency), card_token=token,
                                      idempotency_key=charge_idempotency_key(order_id=order.id))
    type_name = "payments.PaymentCaptured" if payment.status == "captured" else "payments.PaymentFailed"
    [message] = [m for m in OutboxMessage.objects.filter(event_type=type_name)
                 if m.envelope["payload"]["payment_id"] == str(payment.id)]
    return message.envelope


def test_a_captured_payment_confirms_the_waiting_checkout_once(waiting, stock):
    envelope = _settle(waiting, "tok_visa")
    assert bus.dispatch(envelope) >= 1
    saga = CheckoutSaga.objects.select_related("order").get(pk=waiting.id)
    assert (saga.step, saga.order.status) == ("confirmed", "confirmed")
    assert [p.status for p in payments.payments_list_by_order(order_id=waiting.id)] == ["captured"]
    assert stock() == {"mug": (8, 0), "tee": (2, 0)}
    assert OutboxMessage.objects.filter(event_type="orders.OrderConfirmed").count() == 1
    assert bus.dispatch(envelope) == 0  # a redelivery is dropped by the inbox


def test_a_failed_payment_compensates_the_waiting_checkout(waiting, stock):
    bus.dispatch(_settle(waiting, "tok_chargeDeclined"))
    saga = CheckoutSaga.objects.select_related("order").get(pk=waiting.id)
    assert (saga.step, saga.failure_reason, saga.order.status) == ("compensated", "card_declined", "failed")
    assert stock() == {"mug": (10, 0), "tee": (3, 0)}
    assert [p.status for p in payments.payments_list_by_order(order_id=waiting.id)] == ["failed"]


def test_events_of_checkouts_not_waiting_are_no_ops(order, stock):
    confirmed = order_checkout(order_id=order.id, user_id=order.user_id, card_token="tok_visa")
    attempts = CheckoutSaga.objects.get(pk=order.id).attempts
    [message] = OutboxMessage.objects.filter(event_type="payments.PaymentCaptured")
    envelope = message.envelope | {"event_id": str(uuid.uuid4())}
    bus.dispatch(envelope)
    assert CheckoutSaga.objects.get(pk=order.id).attempts == attempts
    assert Order.objects.get(pk=order.id).status == confirmed.status == "confirmed"

    stray = envelope | {"event_id": str(uuid.uuid4()),
                        "payload": envelope["payload"] | {"order_id": str(uuid.uuid4())}}
    bus.dispatch(stray)  # a payment made outside any checkout: nothing to resume


def test_malformed_events_are_logged_and_dropped(db, caplog):
    envelope = {"type": "payments.PaymentCaptured", "event_id": str(uuid.uuid4()), "occurred_at": "",
                "version": 1, "payload": {"order_id": "not-a-uuid"}}
    with caplog.at_level(logging.ERROR, logger="monolith.orders.handlers"):
        bus.dispatch(envelope)
    assert "malformed payments.PaymentCaptured" in caplog.text


def test_payments_still_down_leaves_the_checkout_waiting(waiting, settings, stock):
    envelope = _settle(waiting, "tok_visa")
    settings.PAYMENTS_IMPL = "remote"  # the event came through, the service did not
    bus.dispatch(envelope)
    assert CheckoutSaga.objects.get(pk=waiting.id).step == "stock_reserved"
    assert stock() == {"mug": (10, 2), "tee": (3, 1)}
