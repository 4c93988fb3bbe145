"""Money through the public API: a charge needs the caller's own order; an order can be cancelled
(stock back, a capture refunded, idempotent, Idempotency-Key honoured)."""

import uuid

import pytest
from django.contrib.auth import get_user_model
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from monolith.catalog import interface as catalog
from monolith.kernel.money import Money
from monolith.payments.models import Payment, Refund
from monolith.payments.processors import FakeProcessor
from strangler.django.idempotency.models import IdempotencyRecord
from strangler.django.outbox.models import OutboxMessage


@pytest.fixture
def mug(db) -> catalog.ProductDTO:
    product = catalog.product_create(sku="mug", name="Mug", price=Money(1250, "EUR"))
    catalog.stock_set(product_id=product.id, on_hand=10)
    return product


@pytest.fixture
def other_client(db):
    other = get_user_model().objects.create_user(email=f"o{uuid.uuid4().hex[:8]}@example.com", password="s3cret-pass")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=other).key}")
    return client


def _post(client, url, body=None, key=None):
    return client.post(url, body or {}, format="json", HTTP_IDEMPOTENCY_KEY=key or uuid.uuid4().hex)


def _order(client, mug, quantity=2) -> dict:
    response = _post(client, "/api/v1/orders/", {"lines": [{"product_id": str(mug.id), "quantity": quantity}]})
    assert response.status_code == 201, response.json()
    return response.json()


def _stock(mug) -> tuple[int, int]:
    level = catalog.stock_get(product_id=mug.id)
    return level.on_hand, level.reserved


def _charge(client, order_id, amount=2500):
    return _post(client, "/api/v1/payments/", {"order_id": str(order_id), "amount_minor": amount, "currency": "EUR",
                                               "card_token": "tok_visa"})


# -- POST /api/v1/payments/ checks the caller owns the order ---------------------------------------

def test_charging_someone_elses_order_is_404_and_charges_nothing(auth_client, other_client, mug):
    theirs = _order(other_client, mug)
    response = _charge(auth_client, theirs["id"])
    assert response.status_code == 404, response.json()
    assert response.json()["error"]["code"] == "order_not_found"
    assert not Payment.objects.exists() and FakeProcessor.captures() == 0


def test_charging_an_unknown_order_is_404_like_someone_elses(auth_client, db):
    response = _charge(auth_client, uuid.uuid4())
    assert (response.status_code, response.json()["error"]["code"]) == (404, "order_not_found")
    assert not Payment.objects.exists()


def test_charging_your_own_order_works(auth_client, mug):
    mine = _order(auth_client, mug)
    assert _charge(auth_client, mine["id"]).status_code == 201


# -- POST /api/v1/orders/<id>/cancel/ -------------------------------------------------------------

def test_cancelling_a_pending_order(auth_client, mug):
    order = _order(auth_client, mug)
    response = _post(auth_client, f"/api/v1/orders/{order['id']}/cancel/")
    assert response.status_code == 200, response.json()
    assert response.json()["status"] == "cancelled"
    assert _stock(mug) == (10, 0)
    checkout = _post(auth_client, f"/api/v1/orders/{order['id']}/checkout/", {"card_token": "tok_visa"})
    assert (checkout.status_code, checkout.json()["error"]["code"]) == (409, "order_cancelled")
    assert FakeProcessor.captures() == 0


def test_cancelling_a_confirmed_order_refunds_the_capture_and_returns_the_stock(auth_client, mug):
    order = _order(auth_client, mug)
    assert _post(auth_client, f"/api/v1/orders/{order['id']}/checkout/", {"card_token": "tok_visa"}).status_code == 200
    assert _stock(mug) == (8, 0)

    first = _post(auth_client, f"/api/v1/orders/{order['id']}/cancel/", key="cancel-1")
    assert first.status_code == 200, first.json()
    assert first.json()["status"] == "cancelled"
    assert _stock(mug) == (10, 0)
    payment = Payment.objects.get(order_id=order["id"])
    assert (payment.captured_minor, payment.refunded_minor) == (2500, 2500)
    assert FakeProcessor.refunds() == 1

    replay = _post(auth_client, f"/api/v1/orders/{order['id']}/cancel/", key="cancel-1")
    assert (replay.status_code, replay.json(), replay.headers.get("Idempotent-Replayed")) == (200, first.json(),
                                                                                              "true")
    again = _post(auth_client, f"/api/v1/orders/{order['id']}/cancel/", key="cancel-2")  # idempotent too
    assert (again.status_code, again.json()["status"]) == (200, "cancelled")
    assert FakeProcessor.refunds() == 1 and Refund.objects.count() == 1
    assert _stock(mug) == (10, 0)
    assert [m.envelope["payload"]["order_id"] for m in OutboxMessage.objects.filter(
        event_type="orders.OrderCancelled")] == [order["id"]]


def test_cancelling_a_checkout_that_holds_stock_releases_it(auth_client, mug):
    order = _order(auth_client, mug)
    waiting = _post(auth_client, f"/api/v1/orders/{order['id']}/checkout/", {"card_token": "tok_processorTimeout"})
    assert waiting.status_code == 202
    assert _stock(mug) == (10, 2)
    # The processor never answered: the card may be charged, so the order cannot be cancelled yet.
    busy = _post(auth_client, f"/api/v1/orders/{order['id']}/cancel/", key="c")
    assert (busy.status_code, busy.json()["error"]["code"]) == (409, "payment_outcome_unknown")
    assert not IdempotencyRecord.objects.filter(key="c").exists()  # transient: not stored
    assert _stock(mug) == (10, 2)


def test_cancelling_someone_elses_order_is_404(auth_client, other_client, mug):
    theirs = _order(other_client, mug)
    response = _post(auth_client, f"/api/v1/orders/{theirs['id']}/cancel/")
    assert (response.status_code, response.json()["error"]["code"]) == (404, "order_not_found")
    assert _stock(mug) == (10, 0)


def test_cancel_needs_an_idempotency_key(auth_client, mug):
    order = _order(auth_client, mug)
    response = auth_client.post(f"/api/v1/orders/{order['id']}/cancel/", {}, format="json")
    assert (response.status_code, response.json()["error"]["code"]) == (400, "idempotency_key_missing")
