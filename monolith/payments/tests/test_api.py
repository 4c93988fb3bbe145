import uuid

import pytest
from django.contrib.auth import get_user_model
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from monolith.payments.models import Payment, Refund

URL = "/api/v1/payments/"


def _post(client, url, body, key=None):
    return client.post(url, body, format="json", HTTP_IDEMPOTENCY_KEY=key or uuid.uuid4().hex)


def _charge(client, token="tok_visa", order_id=None, amount=1999, key=None):
    return _post(client, URL, {"order_id": str(order_id or uuid.uuid4()), "amount_minor": amount,
                               "currency": "EUR", "card_token": token}, key)


@pytest.fixture
def other_client(db):
    other = get_user_model().objects.create_user(email="other@example.com", password="s3cret-pass")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=other).key}")
    return client


def test_charge_201(auth_client, user):
    response = _charge(auth_client)
    assert response.status_code == 201
    body = response.json()
    assert (body["status"], body["amount_minor"], body["captured_minor"], body["refunds"]) == ("captured", 1999, 1999, [])
    assert Payment.objects.get(pk=body["id"]).user_id == user.id


@pytest.mark.parametrize(("token", "status", "code"), [
    ("tok_chargeDeclined", 402, "card_declined"),
    ("tok_chargeDeclinedInsufficientFunds", 402, "insufficient_funds"),
])
def test_refused_charge_is_recorded(auth_client, token, status, code):
    response = _charge(auth_client, token)
    assert response.status_code == status
    error = response.json()["error"]
    assert error["code"] == code
    assert set(error) == {"code", "message", "fields"}
    payment = Payment.objects.get()
    assert (payment.status, payment.failure_reason) == ("failed", code)
    assert str(payment.id) in error["message"]


def test_timeout_is_an_unknown_outcome_asked_again_on_retry(auth_client, processor_calls):
    order_id = uuid.uuid4()
    first = _charge(auth_client, "tok_processorTimeout", order_id=order_id, key="t1")
    again = _charge(auth_client, "tok_processorTimeout", order_id=order_id, key="t1")
    assert (first.status_code, again.status_code) == (202, 202)
    assert (first.json()["status"], first.json()["outcome_unknown"]) == ("pending", True)
    assert first.json() == again.json()
    assert Payment.objects.count() == 1
    # Not stored: each retry asks the processor again, with the same key.
    assert [key for _, key in processor_calls] == [processor_calls[0][1]] * 2


def test_charge_requires_auth(api_client, db):
    assert _charge(api_client).status_code == 401


def test_only_own_payments_are_visible(auth_client, other_client):
    order_id = uuid.uuid4()
    mine = _charge(auth_client, order_id=order_id).json()
    _charge(other_client, order_id=order_id)
    assert auth_client.get(f"{URL}{mine['id']}/").json()["id"] == mine["id"]
    assert other_client.get(f"{URL}{mine['id']}/").status_code == 404
    listed = auth_client.get(URL, {"order_id": str(order_id)}).json()
    assert [p["id"] for p in listed] == [mine["id"]]
    assert auth_client.get(URL, {"order_id": str(uuid.uuid4())}).json() == []
    assert auth_client.get(URL, {"order_id": "nope"}).status_code == 400


def test_refunds_api(auth_client, other_client):
    payment = _charge(auth_client, amount=1000).json()
    url = f"{URL}{payment['id']}/refunds/"
    partial = _post(auth_client, url, {"amount_minor": 400, "currency": "EUR"})
    assert partial.status_code == 201
    assert (partial.json()["amount_minor"], partial.json()["refunded_total_minor"]) == (400, 400)
    too_much = _post(auth_client, url, {"amount_minor": 601})
    assert too_much.status_code == 409
    assert too_much.json()["error"]["code"] == "refund_exceeds_captured"
    wrong_currency = _post(auth_client, url, {"amount_minor": 1, "currency": "USD"})
    assert wrong_currency.status_code == 422
    assert wrong_currency.json()["error"]["code"] == "currency_mismatch"
    assert _post(other_client, url, {"amount_minor": 1}).status_code == 404
    rest = _post(auth_client, url, {})
    assert (rest.status_code, rest.json()["amount_minor"], rest.json()["refunded_total_minor"]) == (201, 600, 1000)
    assert auth_client.get(f"{URL}{payment['id']}/").json()["refunded_minor"] == 1000
    assert Refund.objects.count() == 2


def test_refund_requires_an_idempotency_key(auth_client):
    payment = _charge(auth_client).json()
    response = auth_client.post(f"{URL}{payment['id']}/refunds/", {}, format="json")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "idempotency_key_missing"
    assert Refund.objects.count() == 0
