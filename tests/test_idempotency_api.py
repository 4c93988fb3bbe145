"""Idempotency-Key on the POSTs that create orders or move money."""

import datetime as dt

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from monolith.catalog import interface as catalog
from monolith.kernel.money import Money
from monolith.orders.models import CheckoutSaga, Order
from monolith.payments.models import Payment
from strangler.django.idempotency.models import IdempotencyRecord


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


def _charge_body(order_id, **overrides):
    """A charge of the caller's own order (POST /api/v1/payments/ checks the order is yours)."""
    return {"order_id": str(order_id), "amount_minor": 500, "currency": "EUR", "card_token": "tok_visa",
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
def test_charge_replay_is_identical_and_charges_once(auth_client, order, token, status):
    first = _post(auth_client, "/api/v1/payments/", _charge_body(order["id"], card_token=token), "charge-1")
    assert first.status_code == status
    _replayed(first, _post(auth_client, "/api/v1/payments/", _charge_body(order["id"], card_token=token), "charge-1"))
    assert Payment.objects.count() == 1


def test_order_create_replay_creates_one_order(auth_client, order, mug):
    again = _post(auth_client, "/api/v1/orders/", {"lines": [{"product_id": str(mug.id), "quantity": 2}]}, "order-1")
    assert (again.status_code, again.json()) == (201, order)
    assert Order.objects.count() == 1


def test_refund_replay_refunds_once(auth_client, order):
    payment = _post(auth_client, "/api/v1/payments/", _charge_body(order["id"]), "charge-1").json()
    url = f"/api/v1/payments/{payment['id']}/refunds/"
    first = _post(auth_client, url, {"amount_minor": 100}, "refund-1")
    assert first.status_code == 201
    _replayed(first, _post(auth_client, url, {"amount_minor": 100}, "refund-1"))
    assert Payment.objects.get().refunded_minor == 100


def test_same_key_with_another_body_is_422(auth_client, order, mug):
    charge = _post(auth_client, "/api/v1/payments/", _charge_body(order["id"]), "k")
    assert charge.status_code == 201
    reused = _post(auth_client, "/api/v1/payments/", _charge_body(order["id"], amount_minor=501), "k")
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
        ("/api/v1/payments/", _charge_body(order["id"])),
        ("/api/v1/orders/", {"lines": [{"product_id": str(mug.id), "quantity": 1}]}),
        (f"/api/v1/orders/{order['id']}/checkout/", {"card_token": "tok_visa"}),
    ]
    for url, body in cases:
        response = _post(auth_client, url, body, None)
        assert (response.status_code, response.json()["error"]["code"]) == (400, "idempotency_key_missing")
    assert (Payment.objects.count(), Order.objects.count(), CheckoutSaga.objects.count()) == (0, 1, 0)
    assert IdempotencyRecord.objects.count() == records


def test_keys_are_per_user(auth_client, order, mug):
    other = get_user_model().objects.create_user(email="o@example.com", password="s3cret-pass")
    other_client = APIClient()
    other_client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=other).key}")
    theirs = _post(other_client, "/api/v1/orders/", {"lines": [{"product_id": str(mug.id), "quantity": 1}]}, "o")
    assert _post(auth_client, "/api/v1/payments/", _charge_body(order["id"]), "shared").status_code == 201
    assert _post(other_client, "/api/v1/payments/", _charge_body(theirs.json()["id"]), "shared").status_code == 201
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


def test_an_order_created_then_a_failure_reading_it_back_is_not_created_twice(auth_client, mug, monkeypatch):
    from monolith.orders import apis

    real_order_get = apis.order_get

    def read_fails_once(**kwargs):
        monkeypatch.setattr(apis, "order_get", real_order_get)
        raise RuntimeError("database hiccup while reading the new order back")

    monkeypatch.setattr(apis, "order_get", read_fails_once)
    body = {"lines": [{"product_id": str(mug.id), "quantity": 1}]}
    first = _post(auth_client, "/api/v1/orders/", body, "create-1")
    assert first.status_code == 500
    again = _post(auth_client, "/api/v1/orders/", body, "create-1")
    assert again.status_code == 500 and again.headers.get("Idempotent-Replayed") == "true"
    assert Order.objects.count() == 1  # the retry did not create a second order


def test_a_refund_refused_while_the_charge_is_pending_is_not_stored(auth_client, order):
    charge = _charge_body(order["id"], card_token="tok_chargeThenTimeout")
    pending = _post(auth_client, "/api/v1/payments/", charge, "charge-1")
    assert pending.status_code == 202
    url = f"/api/v1/payments/{pending.json()['id']}/refunds/"
    early = _post(auth_client, url, {}, "refund-1")
    assert (early.status_code, early.json()["error"]["code"]) == (409, "payment_not_captured")
    assert _post(auth_client, "/api/v1/payments/", charge, "charge-1").status_code == 201  # now captured
    refund = _post(auth_client, url, {}, "refund-1")
    assert refund.status_code == 201, refund.json()
    assert refund.json()["amount_minor"] == 500
