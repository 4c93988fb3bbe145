"""STOREFRONT -> CATALOG: what end users' apps read of /api/v1/products (the public products API).

Driven through the storefront's products client (contracts/clients/storefront_products.py) against
Pact's mock server. The API is public: the requests carry no token, so none is in the contract.
"""

from __future__ import annotations

import uuid

import pytest
from pact import match

from contracts.clients.storefront import StorefrontError
from contracts.clients.storefront_products import StorefrontProductsClient
from contracts.consumers import catalog_shapes as shapes
from contracts.consumers.shapes import error_body, example_id
from contracts.participants import CATALOG, STOREFRONT

JSON = "application/json"


@pytest.fixture
def pact(pact_between):
    return pact_between(STOREFRONT, CATALOG)


def test_list_products(pact):
    product_id = example_id("storefront-product:list")
    pact.upon_receiving("a visitor lists the products").given(
        shapes.IN_STOCK, **shapes.in_stock(product_id)).with_request("GET", "/api/v1/products/").will_respond_with(
        200).with_body(match.each_like(shapes.product(product_id, description=True), min=1), content_type=JSON)
    with pact.serve() as srv:
        products = StorefrontProductsClient(str(srv.url)).products_list()
    assert [(p.id, p.price_minor, p.currency, p.available) for p in products] == [
        (uuid.UUID(product_id), 1250, "EUR", 5)]


def test_get_product(pact):
    product_id = example_id("storefront-product:get")
    pact.upon_receiving("a visitor reads a product").given(
        shapes.IN_STOCK, **shapes.in_stock(product_id)).with_request(
        "GET", f"/api/v1/products/{product_id}/").will_respond_with(200).with_body(
        shapes.product(product_id, description=True), content_type=JSON)
    with pact.serve() as srv:
        product = StorefrontProductsClient(str(srv.url)).product_get(uuid.UUID(product_id))
    assert (product.id, product.active, product.available) == (uuid.UUID(product_id), True, 5)
    assert product.name and product.description


def test_an_unknown_product_is_not_found(pact):
    product_id = example_id("storefront-product:unknown")
    pact.upon_receiving("a visitor reads a product that does not exist").given(
        shapes.NO_PRODUCT, product_id=product_id).with_request(
        "GET", f"/api/v1/products/{product_id}/").will_respond_with(404).with_body(
        error_body("product_not_found"), content_type=JSON)
    with pact.serve() as srv, pytest.raises(StorefrontError) as raised:
        StorefrontProductsClient(str(srv.url)).product_get(uuid.UUID(product_id))
    assert (raised.value.status, raised.value.code) == (404, "product_not_found")
