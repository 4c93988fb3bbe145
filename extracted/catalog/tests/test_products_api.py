"""The products the service serves: the public API the monolith mounts at /api/v1/products/ (behind
the proxy's credential, as the payments service's public API) and the internal reads orders use."""

from __future__ import annotations

import uuid

import pytest

from monolith.catalog import interface as catalog
from tests.conftest import META

INTERNAL = "/internal/v1/catalog/products/"


def test_the_public_products_api_is_served(client, mint, products):
    mug, tee = products
    listed = client.get("/api/v1/products/", **{META: mint("strangler")})
    assert listed.status_code == 200, listed.content
    assert [(p["sku"], p["available"]) for p in listed.json()] == [("mug", 5), ("tee", 2)]
    detail = client.get(f"/api/v1/products/{mug.id}/", **{META: mint("strangler")})
    assert detail.json()["price_minor"] == 1500 and detail.json()["currency"] == "EUR"
    stock = client.get(f"/api/v1/products/{tee.id}/stock/", **{META: mint("monolith")})
    assert stock.json() == {"product_id": str(tee.id), "on_hand": 2, "reserved": 0, "available": 2}


def test_the_public_api_needs_the_proxys_credential(client, products):
    response = client.get("/api/v1/products/")
    assert response.status_code == 401 and response.json()["error"]["code"] == "internal_credential_required"


def test_a_missing_product_is_404_in_the_error_shape(internal, db):
    response = internal("get", f"{INTERNAL}{uuid.uuid4()}/")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "product_not_found"


def test_the_internal_reads_match_the_interface(internal, products):
    mug, tee = products
    catalog.stock_reserve(order_id=uuid.uuid4(), lines=[catalog.StockLine(product_id=mug.id, quantity=2)])
    product = internal("get", f"{INTERNAL}{mug.id}/").json()
    assert {k: product[k] for k in ("id", "sku", "name", "price_minor", "currency", "active", "available")} == {
        "id": str(mug.id), "sku": "mug", "name": "Mug", "price_minor": 1500, "currency": "EUR", "active": True,
        "available": 3,
    }
    assert internal("get", f"{INTERNAL}{mug.id}/stock/").json() == {
        "product_id": str(mug.id), "on_hand": 5, "reserved": 2, "available": 3}
    many = internal("get", f"{INTERNAL}?ids={mug.id},{uuid.uuid4()},{tee.id}").json()
    assert [p["sku"] for p in many] == ["mug", "tee"]  # missing ids are absent, as products_get_many


@pytest.mark.parametrize("query", ["", "?ids=", "?ids=nope", f"?ids={uuid.uuid4()}&ids={uuid.uuid4()}",
                                   "?ids=" + ",".join(str(uuid.uuid4()) for _ in range(101))])
def test_bad_id_lists_are_400(internal, db, query):
    response = internal("get", f"{INTERNAL}{query}")
    assert response.status_code == 400, response.content
    assert response.json()["error"]["code"] == "validation_error"
