"""MONOLITH_EVENTS -> PAYMENTS_EVENTS: the payments events the monolith consumes, as message pacts.

Each message is decoded and handed to the real consumer path, ``strangler.django.outbox.bus.dispatch``,
in a test database holding what the monolith would hold when the event arrives; then the effect
is checked (checkout confirmed or compensated, mail written, local payment copy merged). Only the
fields those handlers read are in the contract: the event type and field names exactly, ids and
times as shapes. The envelope's other keys (occurred_at, version, trace, ...) are not matched.
"""

from __future__ import annotations

import json
import uuid

import pytest
from django.core import mail
from pact import match

from contracts.consumers.checkout_state import checkout_waiting_on_payment, shopper_create, stock_of
from contracts.consumers.shapes import a_currency, a_time, an_id, example_id
from contracts.participants import MONOLITH_EVENTS, PAYMENTS_EVENTS
from monolith.kernel.money import Money
from monolith.orders.models import Order
from monolith.payments import interface as payments
from strangler.django.outbox import bus

pytestmark = pytest.mark.django_db

USER = example_id("events:user")
# One order per message: each provider state charges its own order, once.
CAPTURED_ORDER = example_id("events:order:captured")
FAILED_ORDER = example_id("events:order:failed")
SYNCED_ORDER = example_id("events:order:synced")
SYNCED_PAYMENT = example_id("events:payment:synced")
JSON = "application/json"


@pytest.fixture
def pact(pact_between, settings):
    settings.PAYMENTS_IMPL = "local"  # the resumed saga's charge is served in-process
    return pact_between(MONOLITH_EVENTS, PAYMENTS_EVENTS)


def _envelope(type_name: str, payload: dict) -> dict:
    return {"type": type_name, "event_id": an_id(example_id(f"event:{type_name}")), "payload": payload}


def _dispatch(body: str | bytes | None, metadata: dict) -> None:
    assert body is not None, "the message has no body"
    assert bus.dispatch(json.loads(body)) >= 1, "no consumer ran"


def _charged(pact, description: str, state: str, order_id: str):
    """A message about one order's charge; the provider state names the order, shopper and amount."""
    return pact.upon_receiving(description, "Async").given(state, order_id=order_id, user_id=USER,
                                                           amount_minor=2500, currency="EUR")


def _waiting(order_id: str, card_token: str) -> None:
    checkout_waiting_on_payment(order_id=uuid.UUID(order_id), user_id=uuid.UUID(USER),
                                amount=Money(2500, "EUR"), card_token=card_token)


def test_payment_captured_confirms_the_waiting_checkout(pact):
    _charged(pact, "a payment captured for an order", "a shopper's card payment for an order is captured",
             CAPTURED_ORDER).with_body(
        _envelope("payments.PaymentCaptured", {"order_id": an_id(CAPTURED_ORDER)}), content_type=JSON)
    _waiting(CAPTURED_ORDER, "tok_visa")
    pact.verify(_dispatch, "Async")
    assert Order.objects.get(pk=CAPTURED_ORDER).status == Order.CONFIRMED
    assert stock_of(order_id=uuid.UUID(CAPTURED_ORDER)) == (4, 0)


def test_payment_failed_compensates_the_checkout_and_mails_the_shopper(pact):
    _charged(pact, "a payment failed for an order", "a shopper's card payment for an order is declined",
             FAILED_ORDER).with_body(_envelope("payments.PaymentFailed", {
                 "order_id": an_id(FAILED_ORDER), "user_id": an_id(USER), "amount_minor": match.int(2500),
                 "currency": a_currency(), "reason": match.str("card_declined"),
             }), content_type=JSON)
    email = shopper_create(user_id=uuid.UUID(USER))
    _waiting(FAILED_ORDER, "tok_chargeDeclined")
    pact.verify(_dispatch, "Async")
    assert Order.objects.get(pk=FAILED_ORDER).status == Order.FAILED
    assert stock_of(order_id=uuid.UUID(FAILED_ORDER)) == (5, 0)
    [sent] = mail.outbox
    assert sent.to == [email] and FAILED_ORDER in sent.subject
    assert "25.00 EUR" in sent.body and "card_declined" in sent.body


def _snapshot() -> dict:
    """A PaymentSynced payload: the whole row and its refunds, as the sync merge needs them."""
    refund = {
        "id": an_id(example_id("events:refund")), "payment_id": an_id(SYNCED_PAYMENT),
        "amount_minor": match.int(500), "currency": a_currency(), "processor_ref": match.str("fake_re_0123"),
        "idempotency_key": match.str(f"orders.refund:{SYNCED_PAYMENT}"), "created_at": a_time(),
    }
    payment = {
        "id": an_id(SYNCED_PAYMENT), "order_id": an_id(SYNCED_ORDER), "user_id": an_id(USER),
        "amount_minor": match.int(2500), "currency": a_currency(),
        "status": match.regex("captured", regex=r"^(pending|captured|failed)$"),
        "failure_reason": match.str(""), "processor_ref": match.str("fake_ch_0123"),
        "captured_minor": match.int(2500), "refunded_minor": match.int(500),
        "idempotency_key": match.str(f"orders.checkout:{SYNCED_ORDER}"), "revision": match.int(3),
        "created_at": a_time(), "updated_at": a_time(),
    }
    return {"payment": payment, "refunds": match.each_like(refund, min=1),
            "origin": match.regex("payments-service", regex=r"^(monolith|payments-service)$")}


def test_payment_synced_updates_the_local_copy(pact):
    pact.upon_receiving("a snapshot of a partly refunded payment", "Async").given(
        "a captured payment of 25.00 EUR was partly refunded", order_id=SYNCED_ORDER, user_id=USER,
        amount_minor=2500, currency="EUR", refund_minor=500,
    ).with_body(_envelope("payments.PaymentSynced", _snapshot()), content_type=JSON)
    pact.verify(_dispatch, "Async")
    copy = payments.payment_get(payment_id=uuid.UUID(SYNCED_PAYMENT))
    assert (copy.status, copy.captured_minor, copy.refunded_minor) == ("captured", 2500, 500)
    assert copy.order_id == uuid.UUID(SYNCED_ORDER)
