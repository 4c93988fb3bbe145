import uuid

import pytest

from monolith.catalog import interface as catalog
from monolith.kernel.money import Money


@pytest.fixture
def mug(db):
    product = catalog.product_create(sku="mug", name="Mug", price=Money(1250, "EUR"), description="blue")
    catalog.stock_set(product_id=product.id, on_hand=7)
    catalog.stock_reserve(order_id=uuid.uuid4(), lines=[catalog.StockLine(product_id=product.id, quantity=2)])
    return product


def test_list_is_public_and_hides_inactive(api_client, mug):
    catalog.product_create(sku="old", name="Old", price=Money(1, "EUR"), active=False)
    response = api_client.get("/api/v1/products/")
    assert response.status_code == 200
    assert [p["sku"] for p in response.json()] == ["mug"]


def test_detail_shows_available_stock(api_client, mug):
    body = api_client.get(f"/api/v1/products/{mug.id}/").json()
    assert body == {"id": str(mug.id), "sku": "mug", "name": "Mug", "description": "blue", "price_minor": 1250,
                    "currency": "EUR", "active": True, "available": 5}


def test_stock_endpoint(api_client, mug):
    body = api_client.get(f"/api/v1/products/{mug.id}/stock/").json()
    assert body == {"product_id": str(mug.id), "on_hand": 7, "reserved": 2, "available": 5}


@pytest.mark.parametrize("suffix", ["", "stock/"])
def test_unknown_product_is_a_json_404(api_client, db, suffix):
    response = api_client.get(f"/api/v1/products/{uuid.uuid4()}/{suffix}")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "product_not_found"
