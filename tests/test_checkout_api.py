"""The whole shop over HTTP: products -> order -> checkout, with the API client only."""

import uuid

import pytest
from django.contrib.auth import get_user_model
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from monolith.catalog import interface as catalog
from monolith.kernel.money import Money
from strangler.django.outbox.models import OutboxMessage


@pytest.fixture
def shop(db) -> dict[str, catalog.ProductDTO]:
    made = {}
    for sku, price, on_hand in [("mug", 1250, 10), ("tee", 2000, 3)]:
        made[sku] = catalog.product_create(sku=sku, name=sku.title(), price=Money(price, "EUR"))
        catalog.stock_set(product_id=made[sku].id, on_hand=on_hand)
    return made


def _post(client, url, body):
    return client.post(url, body, format="json", HTTP_IDEMPOTENCY_KEY=uuid.uuid4().hex)


def _stock(client, shop) -> dict:
    return {sku: client.get(f"/api/v1/products/{p.id}/stock/").json() for sku, p in shop.items()}


def _place(client, shop) -> dict:
    response = _post(client, "/api/v1/orders/", {"lines": [
        {"product_id": str(shop["mug"].id), "quantity": 2, "unit_price_minor": 1},  # a client price is ignored
        {"product_id": str(shop["tee"].id), "quantity": 1},
    ]})
    assert response.status_code == 201, response.json()
    return response.json()


def test_order_and_checkout_confirmed(auth_client, shop):
    catalogue = auth_client.get("/api/v1/products/").json()
    assert {p["sku"]: p["available"] for p in catalogue} == {"mug": 10, "tee": 3}
    order = _place(auth_client, shop)
    assert (order["status"], order["total_minor"], order["currency"]) == ("pending", 4500, "EUR")
    assert sorted((x["sku"], x["quantity"], x["unit_price_minor"], x["line_total_minor"]) for x in order["lines"]) == [
        ("mug", 2, 1250, 2500), ("tee", 1, 2000, 2000)]

    response = _post(auth_client, f"/api/v1/orders/{order['id']}/checkout/", {"card_token": "tok_visa"})
    assert response.status_code == 200, response.json()
    confirmed = response.json()
    assert confirmed["status"] == "confirmed"
    assert confirmed["payment_id"]

    payment = auth_client.get(f"/api/v1/payments/{confirmed['payment_id']}/").json()
    assert (payment["status"], payment["amount_minor"], payment["order_id"]) == ("captured", 4500, order["id"])
    assert auth_client.get(f"/api/v1/orders/{order['id']}/").json() == confirmed
    assert [o["id"] for o in auth_client.get("/api/v1/orders/").json()] == [order["id"]]
    stock = _stock(auth_client, shop)
    assert (stock["mug"]["on_hand"], stock["mug"]["reserved"], stock["tee"]["available"]) == (8, 0, 2)
    # PaymentSynced and ProductSynced (the shop's products, created by the fixture): the snapshots for
    # the extracted services' copies (continuous sync); stock writes publish none.
    assert set(OutboxMessage.objects.values_list("event_type", flat=True)) == {
        "catalog.ProductSynced", "orders.OrderPlaced", "payments.PaymentCaptured", "payments.PaymentSynced",
        "orders.OrderConfirmed"}

    again = _post(auth_client, f"/api/v1/orders/{order['id']}/checkout/", {"card_token": "tok_visa"})
    assert (again.status_code, again.json()) == (200, confirmed)


def test_declined_checkout_is_402_and_restores_stock(auth_client, shop):
    before = _stock(auth_client, shop)
    order = _place(auth_client, shop)
    response = _post(auth_client, f"/api/v1/orders/{order['id']}/checkout/", {"card_token": "tok_chargeDeclined"})
    assert response.status_code == 402
    error = response.json()["error"]
    assert (error["code"], set(error)) == ("card_declined", {"code", "message", "fields"})
    assert _stock(auth_client, shop) == before
    failed = auth_client.get(f"/api/v1/orders/{order['id']}/").json()
    assert (failed["status"], failed["failure_reason"]) == ("failed", "card_declined")
    payments = auth_client.get("/api/v1/payments/", {"order_id": order["id"]}).json()
    assert [(p["status"], p["failure_reason"]) for p in payments] == [("failed", "card_declined")]

    retry = _post(auth_client, f"/api/v1/orders/{order['id']}/checkout/", {"card_token": "tok_visa"})
    assert (retry.status_code, retry.json()["error"]["code"]) == (409, "order_failed")
    assert _stock(auth_client, shop) == before


def test_insufficient_stock_is_409_and_charges_nothing(auth_client, shop):
    response = _post(auth_client, "/api/v1/orders/", {"lines": [{"product_id": str(shop["tee"].id), "quantity": 4}]})
    order = response.json()
    response = _post(auth_client, f"/api/v1/orders/{order['id']}/checkout/", {"card_token": "tok_visa"})
    assert (response.status_code, response.json()["error"]["code"]) == (409, "insufficient_stock")
    assert auth_client.get("/api/v1/payments/", {"order_id": order["id"]}).json() == []


def test_orders_are_private(auth_client, shop):
    order = _place(auth_client, shop)
    other = get_user_model().objects.create_user(email="other@example.com", password="s3cret-pass")
    stranger = APIClient()
    stranger.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=other).key}")
    assert stranger.get(f"/api/v1/orders/{order['id']}/").status_code == 404
    assert stranger.get("/api/v1/orders/").json() == []
    response = _post(stranger, f"/api/v1/orders/{order['id']}/checkout/", {"card_token": "tok_visa"})
    assert (response.status_code, response.json()["error"]["code"]) == (404, "order_not_found")
    assert auth_client.get(f"/api/v1/orders/{order['id']}/").json()["status"] == "pending"
