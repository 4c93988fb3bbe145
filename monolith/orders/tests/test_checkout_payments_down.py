"""Checkout while the payments service is down, against a live one: 503 + Retry-After, the saga
waits with its stock reserved, and the client's retry with the same key charges exactly once."""

from __future__ import annotations

import time

import pytest

from monolith.orders import tasks
from monolith.orders.models import CheckoutSaga, Order
from monolith.orders.services import OrderLineInput, order_create
from monolith.payments import interface as payments
from strangler.django.idempotency.models import IdempotencyRecord
from tests.live_payments import PaymentsServer

pytestmark = pytest.mark.integration


@pytest.fixture
def remote_payments(settings, payments_server) -> PaymentsServer:
    settings.PAYMENTS_IMPL = "remote"
    settings.PAYMENTS_SERVICE_URL = payments_server.url
    settings.PAYMENTS_SERVICE_AUDIENCE = "monolith"  # the server is the monolith's own gunicorn
    settings.PAYMENTS_RETRIES = 1
    settings.PAYMENTS_BREAKER_FAILURES = 2
    settings.PAYMENTS_BREAKER_RESET = 1.0
    return payments_server


@pytest.fixture
def my_order(products, user):
    return order_create(user_id=user.pk, lines=[OrderLineInput(product_id=products["mug"].id, quantity=2),
                                                 OrderLineInput(product_id=products["tee"].id, quantity=1)])


def _checkout(client, order, key: str):
    return client.post(f"/api/v1/orders/{order.id}/checkout/", {"card_token": "tok_visa"}, format="json",
                       HTTP_IDEMPOTENCY_KEY=key)


def test_checkout_waits_out_a_payments_outage_and_charges_once(remote_payments, auth_client, my_order, stock):
    remote_payments.stop()
    key = "checkout-during-outage"
    down = _checkout(auth_client, my_order, key)
    assert down.status_code == 503, down.json()
    assert down.json()["error"]["code"] == "payments_unavailable"
    assert set(down.json()["error"]) == {"code", "message", "fields"}
    retry_after = int(down["Retry-After"])
    assert retry_after >= 1
    saga = CheckoutSaga.objects.select_related("order").get(pk=my_order.id)
    assert (saga.step, saga.order.status, saga.payment_id) == ("stock_reserved", "awaiting_payment", None)
    assert stock() == {"mug": (10, 2), "tee": (3, 1)}
    assert not IdempotencyRecord.objects.filter(key=key).exists()  # the outcome was not stored

    assert tasks.checkout_resume(str(my_order.id)) == "payments_unavailable"  # the sweep waits too
    assert CheckoutSaga.objects.get(pk=my_order.id).step == "stock_reserved"

    remote_payments.start()
    time.sleep(retry_after)  # as the client was told
    up = _checkout(auth_client, my_order, key)
    assert up.status_code == 200, up.json()
    assert up.json()["status"] == "confirmed"
    [payment] = payments.payments_list_by_order(order_id=my_order.id)  # served by the live service
    assert (str(payment.id), payment.status, payment.amount_minor) == (up.json()["payment_id"], "captured", 4500)
    assert stock() == {"mug": (8, 0), "tee": (2, 0)}

    replay = _checkout(auth_client, my_order, key)
    assert (replay.status_code, replay["Idempotent-Replayed"], replay.json()) == (200, "true", up.json())
    assert len(payments.payments_list_by_order(order_id=my_order.id)) == 1
    assert Order.objects.get(pk=my_order.id).status == "confirmed"
