"""The monolith serves the catalog's internal API (/internal/v1/catalog/) as the catalog service does,
so its implementation is verified against the same pacts; only the monolith's own credential passes."""

import uuid

import pytest
from django.conf import settings as django_settings
from rest_framework.test import APIClient

from monolith.catalog import interface as catalog
from monolith.kernel.money import Money
from strangler.proxy.credentials import credential_mint

BASE = "/internal/v1/catalog/"


def _client(caller: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_X_INTERNAL_CREDENTIAL=credential_mint(django_settings.INTERNAL_AUTH_SECRET, caller,
                                                                                audience="monolith"))
    return client


@pytest.mark.django_db
def test_the_monolith_answers_the_monolith_and_refuses_the_payments_service():
    product = catalog.product_create(sku="mounted-1", name="Mug", price=Money(1250, "EUR"))
    catalog.stock_set(product_id=product.id, on_hand=3)
    ok = _client("monolith").get(f"{BASE}products/{product.id}/stock/")
    assert ok.status_code == 200 and ok.json() == {"product_id": str(product.id), "on_hand": 3, "reserved": 0,
                                                   "available": 3}
    refused = _client("payments-service").post(f"{BASE}reservations/", {"order_id": str(uuid.uuid4()), "lines": [
        {"product_id": str(product.id), "quantity": 1}]}, format="json", HTTP_IDEMPOTENCY_KEY="k1")
    assert (refused.status_code, refused.json()["error"]["code"]) == (401, "internal_credential_required")
    assert catalog.stock_get(product_id=product.id).reserved == 0
