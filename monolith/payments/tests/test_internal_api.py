"""/internal/v1/payments/: the service-to-service API the monolith and the payments service share."""

import json
import uuid

import pytest
from django.conf import settings as django_settings
from rest_framework.test import APIClient

from monolith.payments.models import Payment, Refund
from monolith.payments.tests.factories import idempotency_row, payment_row, refund_row
from strangler.django.extraction import views as sync_views
from strangler.django.idempotency.models import IdempotencyRecord
from strangler.proxy.credentials import credential_mint

BASE = "/internal/v1/payments/"


def _client(caller="monolith"):
    client = APIClient()
    client.credentials(HTTP_X_INTERNAL_CREDENTIAL=credential_mint(django_settings.INTERNAL_AUTH_SECRET, caller,
                                                                                audience="monolith"))
    return client


@pytest.fixture
def internal(db):
    return _client()


def _charge(client, key="orders.checkout:o1", token="tok_visa", order_id=None, **extra):
    body = {"order_id": str(order_id or uuid.uuid4()), "user_id": str(uuid.uuid4()), "amount_minor": 2500,
            "currency": "EUR", "card_token": token}
    headers = {} if key is None else {"HTTP_IDEMPOTENCY_KEY": key}
    return client.post(f"{BASE}charges/", body | extra, format="json", **headers)


PAYMENT_KEYS = {"id", "order_id", "user_id", "amount_minor", "currency", "status", "failure_reason", "processor_ref",
                "captured_minor", "refunded_minor", "created_at"}


@pytest.mark.parametrize(("token", "status"), [("tok_visa", "captured"), ("tok_chargeDeclined", "failed"),
                                               ("tok_processorTimeout", "pending")])
def test_charge_answers_200_with_the_outcome(internal, token, status):
    response = _charge(internal, token=token)
    assert response.status_code == 200, response.json()
    body = response.json()
    assert set(body) == PAYMENT_KEYS and body["status"] == status
    assert Payment.objects.get().idempotency_key == "orders.checkout:o1"  # the domain key, as given


def test_charge_is_once_per_key(internal):
    order_id = uuid.uuid4()
    first = _charge(internal, order_id=order_id, user_id="6c5a3b4e-1111-4222-8333-444455556666")
    again = _charge(internal, order_id=order_id, user_id="6c5a3b4e-1111-4222-8333-444455556666")
    assert first.json() == again.json() and Payment.objects.count() == 1
    assert _charge(internal, amount_minor=1, order_id=order_id).status_code == 422  # key reused


def test_charge_without_key_or_with_bad_body_is_400(internal):
    missing = _charge(internal, key=None)
    assert (missing.status_code, missing.json()["error"]["code"]) == (400, "idempotency_key_missing")
    bad = _charge(internal, amount_minor="25")
    assert (bad.status_code, bad.json()["error"]["code"]) == (400, "validation_error")
    assert not Payment.objects.exists()


def test_get_and_list_by_order(internal):
    order_id = uuid.uuid4()
    paid = _charge(internal, order_id=order_id).json()
    _charge(internal, key="other", order_id=uuid.uuid4())
    assert internal.get(f"{BASE}{paid['id']}/").json() == paid
    missing = internal.get(f"{BASE}{uuid.uuid4()}/")
    assert (missing.status_code, missing.json()["error"]["code"]) == (404, "payment_not_found")
    assert internal.get(BASE, {"order_id": str(order_id)}).json() == [paid]
    assert internal.get(BASE).status_code == 400
    assert internal.get(BASE, {"order_id": "nope"}).status_code == 400


def test_refunds(internal):
    paid = _charge(internal).json()
    url = f"{BASE}{paid['id']}/refunds/"
    first = internal.post(url, {"amount_minor": 500}, format="json", HTTP_IDEMPOTENCY_KEY="orders.refund:1")
    assert first.status_code == 200, first.json()
    assert set(first.json()) == {"id", "payment_id", "amount_minor", "currency", "refunded_total_minor", "created_at"}
    assert first.json()["refunded_total_minor"] == 500
    replay = internal.post(url, {"amount_minor": 500}, format="json", HTTP_IDEMPOTENCY_KEY="orders.refund:1")
    assert replay.json() == first.json() and Refund.objects.count() == 1
    rest = internal.post(url, {}, format="json", HTTP_IDEMPOTENCY_KEY="orders.refund:2")
    assert rest.json()["amount_minor"] == 2000
    cases = [
        (url, {}, "k3", 409, "already_refunded"),
        (url, {"amount_minor": 1, "currency": "USD"}, "k4", 422, "currency_mismatch"),
        (f"{BASE}{uuid.uuid4()}/refunds/", {}, "k5", 404, "payment_not_found"),
    ]
    for target, body, key, status, code in cases:
        response = internal.post(target, body, format="json", HTTP_IDEMPOTENCY_KEY=key)
        assert (response.status_code, response.json()["error"]["code"]) == (status, code)
    assert internal.post(url, {}, format="json").status_code == 400


def test_refund_of_a_failed_payment_is_409(internal):
    failed = _charge(internal, token="tok_chargeDeclined").json()
    response = internal.post(f"{BASE}{failed['id']}/refunds/", {}, format="json", HTTP_IDEMPOTENCY_KEY="r")
    assert (response.status_code, response.json()["error"]["code"]) == (409, "payment_not_captured")


def test_sync_import_and_checksums(internal):
    payments = [payment_row(f"k{i}") for i in range(3)]
    payments[0] |= {"refunded_minor": 500, "revision": 3}
    body = {"payments": payments, "refunds": [refund_row(payments[0], "r", 500)],
            "idempotency_records": [idempotency_row()]}
    response = internal.post(f"{BASE}sync/import/", body, format="json")
    assert response.json() == {"payments": 3, "refunds": 1, "idempotency_records": 1}
    assert IdempotencyRecord.objects.count() == 1
    page = internal.get(f"{BASE}sync/checksums/", {"limit": 2}).json()
    assert (len(page["rows"]), page["total"], page["refund_total"]) == (2, 3, 1)
    rest = internal.get(f"{BASE}sync/checksums/", {"after": page["next"]}).json()
    assert (len(rest["rows"]), rest["next"]) == (1, None)
    for bad in ({"limit": 0}, {"limit": 10001}, {"after": "x"}):
        assert internal.get(f"{BASE}sync/checksums/", bad).status_code == 400


def test_bad_sync_import_is_400_and_writes_nothing(internal):
    body = {"payments": [payment_row("a"), payment_row("b", currency="eu")], "refunds": [], "idempotency_records": []}
    response = internal.post(f"{BASE}sync/import/", body, format="json")
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "sync_invalid" and "payments[1].currency" in error["fields"]
    assert not Payment.objects.exists()
    malformed = internal.generic("POST", f"{BASE}sync/import/", b"{nope", content_type="application/json")
    assert (malformed.status_code, malformed.json()["error"]["code"]) == (400, "malformed_request")
    form = internal.generic("POST", f"{BASE}sync/import/", b"a=1", content_type="application/x-www-form-urlencoded")
    assert form.status_code == 415


def test_sync_import_takes_bodies_above_the_upload_limit(internal, monkeypatch):
    payments = [payment_row(f"key-{i}") for i in range(1500)]
    raw = json.dumps({"payments": payments, "refunds": [], "idempotency_records": []}).encode()
    assert len(raw) > django_settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    response = internal.generic("POST", f"{BASE}sync/import/", raw, content_type="application/json")
    assert response.json() == {"payments": 1500, "refunds": 0, "idempotency_records": 0}
    monkeypatch.setattr(sync_views, "SYNC_IMPORT_MAX_BYTES", 1000)
    too_big = internal.generic("POST", f"{BASE}sync/import/", raw, content_type="application/json")
    assert (too_big.status_code, too_big.json()["error"]["code"]) == (413, "payload_too_large")


@pytest.mark.parametrize("path", ["", "charges/", "sync/import/", "sync/checksums/", f"{uuid.uuid4()}/"])
def test_internal_paths_need_a_monolith_credential(db, path):
    for client in (APIClient(), _client("strangler")):
        response = client.get(f"{BASE}{path}") if not path.endswith(("import/", "charges/")) else client.post(
            f"{BASE}{path}", {}, format="json")
        assert response.status_code == 401
        assert response.json()["error"]["code"] == "internal_credential_required"
    bad_secret = APIClient()
    bad_secret.credentials(HTTP_X_INTERNAL_CREDENTIAL=credential_mint("another-secret", "monolith", audience="monolith"))
    assert bad_secret.get(f"{BASE}sync/checksums/").status_code == 401
