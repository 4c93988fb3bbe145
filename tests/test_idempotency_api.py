"""Idempotency-Key on the POSTs that create orders or move money."""

import datetime as dt
import uuid

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from monolith.catalog import interface as catalog
from monolith.kernel.models import IdempotencyRecord
from monolith.kernel.money import Money
from monolith.orders.models import CheckoutSaga, Order
from monolith.payments.models import Payment


@pytest.fixture
def mug(db) -> catalog.ProductDTO:
    product = catalog.product_create(sku="mug", name="Mug", price=Money(1250, "EUR"))
    catalog.stock_set(product_id=product.id, on_hand=10)
    return product


def _post(client, url, body, key):
    headers = {"HTTP_IDEMPOTENCY_KEY": key} if key is not None else {}
    return client.post(url, body, format="json", **headers)


@pytest.fixture
def order(auth_client, mug) -> dict:
    response = _post(auth_client, "/api/v1/orders/", {"lines": [{"product_id": str(mug.id), "quantity": 2}]},
                     "order-1")
    assert response.status_code == 201
    return response.json()


def _charge_body(**overrides):
    return {"order_id": str(uuid.UUID(int=7)), "amount_minor": 500, "currency": "EUR", "card_token": "tok_visa",
            **overrides}


def _replayed(first, again) -> None:
    assert again.status_code == first.status_code
    assert again.json() == first.json()
    assert again.headers.get("Idempotent-Replayed") == "true"


@pytest.mark.parametrize(("token", "status"), [("tok_visa", 200), ("tok_chargeDeclined", 402)])
def test_checkout_replay_is_identical_and_charges_once(auth_client, order, token, status):
    url = f"/api/v1/orders/{order['id']}/checkout/"
    first = _post(auth_client, url, {"card_token": token}, "checkout-1")
    assert first.status_code == status
    _replayed(first, _post(auth_client, url, {"card_token": token}, "checkout-1"))
    assert Payment.objects.count() == 1


@pytest.mark.parametrize(("token", "status"), [("tok_visa", 201), ("tok_chargeDeclinedInsufficientFunds", 402)])
def test_charge_replay_is_identical_and_charges_once(auth_client, db, token, status):
    first = _post(auth_client, "/api/v1/payments/", _charge_body(card_token=token), "charge-1")
    assert first.status_code == status
    _replayed(first, _post(auth_client, "/api/v1/payments/", _charge_body(card_token=token), "charge-1"))
    assert Payment.objects.count() == 1


def test_order_create_replay_creates_one_order(auth_client, order, mug):
    again = _post(auth_client, "/api/v1/orders/", {"lines": [{"product_id": str(mug.id), "quantity": 2}]}, "order-1")
    assert (again.status_code, again.json()) == (201, order)
    assert Order.objects.count() == 1


def test_refund_replay_refunds_once(auth_client, db):
    payment = _post(auth_client, "/api/v1/payments/", _charge_body(), "charge-1").json()
    url = f"/api/v1/payments/{payment['id']}/refunds/"
    first = _post(auth_client, url, {"amount_minor": 100}, "refund-1")
    assert first.status_code == 201
    _replayed(first, _post(auth_client, url, {"amount_minor": 100}, "refund-1"))
    assert Payment.objects.get().refunded_minor == 100


def test_same_key_with_another_body_is_422(auth_client, order, mug):
    charge = _post(auth_client, "/api/v1/payments/", _charge_body(), "k")
    assert charge.status_code == 201
    reused = _post(auth_client, "/api/v1/payments/", _charge_body(amount_minor=501), "k")
    assert (reused.status_code, reused.json()["error"]["code"]) == (422, "idempotency_key_reused")

    url = f"/api/v1/orders/{order['id']}/checkout/"
    assert _post(auth_client, url, {"card_token": "tok_visa"}, "c").status_code == 200
    reused = _post(auth_client, url, {"card_token": "4242424242424242"}, "c")
    assert (reused.status_code, reused.json()["error"]["code"]) == (422, "idempotency_key_reused")

    reused = _post(auth_client, "/api/v1/orders/", {"lines": [{"product_id": str(mug.id), "quantity": 3}]}, "order-1")
    assert reused.status_code == 422
    assert (Payment.objects.count(), Order.objects.count()) == (2, 1)


def test_a_missing_key_is_400_and_writes_nothing(auth_client, order, mug):
    records = IdempotencyRecord.objects.count()
    cases = [
        ("/api/v1/payments/", _charge_body()),
        ("/api/v1/orders/", {"lines": [{"product_id": str(mug.id), "quantity": 1}]}),
        (f"/api/v1/orders/{order['id']}/checkout/", {"card_token": "tok_visa"}),
    ]
    for url, body in cases:
        response = _post(auth_client, url, body, None)
        assert (response.status_code, response.json()["error"]["code"]) == (400, "idempotency_key_missing")
    assert (Payment.objects.count(), Order.objects.count(), CheckoutSaga.objects.count()) == (0, 1, 0)
    assert IdempotencyRecord.objects.count() == records


def test_keys_are_per_user(auth_client, db):
    other = get_user_model().objects.create_user(email="o@example.com", password="s3cret-pass")
    other_client = APIClient()
    other_client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=other).key}")
    assert _post(auth_client, "/api/v1/payments/", _charge_body(), "shared").status_code == 201
    assert _post(other_client, "/api/v1/payments/", _charge_body(), "shared").status_code == 201
    assert Payment.objects.count() == 2


def test_a_transient_conflict_is_not_stored_for_the_key(auth_client, order):
    CheckoutSaga.objects.create(order_id=order["id"], step=CheckoutSaga.STARTED, card_token="tok_visa")
    url = f"/api/v1/orders/{order['id']}/checkout/"
    busy = _post(auth_client, url, {"card_token": "tok_visa"}, "c")
    assert (busy.status_code, busy.json()["error"]["code"]) == (409, "checkout_in_progress")
    # The other runner died: once its saga is stale the same key takes the checkout over.
    CheckoutSaga.objects.filter(pk=order["id"]).update(updated_at=timezone.now() - dt.timedelta(minutes=5))
    done = _post(auth_client, url, {"card_token": "tok_visa"}, "c")
    assert (done.status_code, done.json()["status"]) == (200, "confirmed")
    assert Payment.objects.count() == 1
