"""MONOLITH_ORDERS -> CATALOG: what orders' remote catalog client needs of /internal/v1/catalog.

The real ``monolith.catalog.remote.CatalogClient`` (what ``CATALOG_IMPL=remote`` runs) calls Pact's
mock server, so the pact records exactly the requests it makes and the answers it can read: the
product reads, and the checkout saga's stock steps, each with the monolith's internal credential
and its Idempotency-Key (the order and the step), whose presence and shape are contract.
"""

from __future__ import annotations

import uuid

import pytest
from pact import match

from contracts.consumers import catalog_shapes as shapes
from contracts.consumers.shapes import IDEMPOTENCY_KEY_RE, an_id, error_body, example_id, monolith_credential
from contracts.participants import CATALOG, MONOLITH_ORDERS
from monolith.catalog.interface import InsufficientStock, ProductNotFound, StockLine
from monolith.catalog.remote import CatalogClient
from strangler.django.remote_client import breaker_from
from strangler.proxy.credentials import HEADER as CREDENTIAL_HEADER
from strangler.proxy.credentials import CredentialSource

JSON = "application/json"
BASE = "/internal/v1/catalog"


@pytest.fixture
def pact(pact_between):
    return pact_between(MONOLITH_ORDERS, CATALOG)


def _client(url: object) -> CatalogClient:
    return CatalogClient(base_url=str(url),
                         credentials=CredentialSource("consumer-test-secret", "monolith", audience="catalog-service"),
                         connect_timeout=1.0, read_timeout=5.0, retries=0, breaker=breaker_from())


def _signed(interaction, idempotency_key: str | None = None):
    """Every call carries the monolith's credential for the catalog service; steps carry their key."""
    interaction.with_header(CREDENTIAL_HEADER, monolith_credential("catalog-service"))
    if idempotency_key is not None:
        interaction.with_header("Idempotency-Key", match.regex(idempotency_key, regex=IDEMPOTENCY_KEY_RE))
    return interaction


def _in_stock(pact, description: str, name: str, *, state: str = shapes.IN_STOCK, on_hand: int = shapes.ON_HAND):
    product_id = example_id(f"catalog-product:{name}")
    interaction = pact.upon_receiving(description).given(state, **shapes.in_stock(product_id, on_hand=on_hand))
    return interaction, product_id


def test_product_get(pact):
    interaction, product_id = _in_stock(pact, "a request for a product", "get")
    _signed(interaction.with_request("GET", f"{BASE}/products/{product_id}/"))
    interaction.will_respond_with(200).with_body(shapes.product(product_id), content_type=JSON)
    with pact.serve() as srv:
        product = _client(srv.url).product_get(product_id=uuid.UUID(product_id))
    assert (product.id, product.price.amount_minor, product.available) == (uuid.UUID(product_id), 1250, 5)


def test_product_get_unknown_is_not_found(pact):
    product_id = example_id("catalog-product:unknown")
    interaction = pact.upon_receiving("a request for a product that does not exist").given(
        shapes.NO_PRODUCT, product_id=product_id)
    _signed(interaction.with_request("GET", f"{BASE}/products/{product_id}/"))
    interaction.will_respond_with(404).with_body(error_body("product_not_found"), content_type=JSON)
    with pact.serve() as srv, pytest.raises(ProductNotFound):
        _client(srv.url).product_get(product_id=uuid.UUID(product_id))


def test_products_get_many(pact):
    interaction, product_id = _in_stock(pact, "a request for several products by id", "many")
    _signed(interaction.with_request("GET", f"{BASE}/products/")).with_query_parameter("ids", an_id(product_id))
    interaction.will_respond_with(200).with_body(match.each_like(shapes.product(product_id), min=1),
                                                 content_type=JSON)
    with pact.serve() as srv:
        found = _client(srv.url).products_get_many(product_ids=[uuid.UUID(product_id)])
    assert list(found) == [uuid.UUID(product_id)] and found[uuid.UUID(product_id)].sku


def test_stock_get(pact):
    interaction, product_id = _in_stock(pact, "a request for a product's stock", "stock")
    _signed(interaction.with_request("GET", f"{BASE}/products/{product_id}/stock/"))
    interaction.will_respond_with(200).with_body(
        {"on_hand": match.int(5), "reserved": match.int(0), "available": match.int(5)}, content_type=JSON)
    with pact.serve() as srv:
        stock = _client(srv.url).stock_get(product_id=uuid.UUID(product_id))
    assert (stock.on_hand, stock.reserved, stock.available) == (5, 0, 5)


def _reserve(pact, description: str, name: str, *, state: str, on_hand: int, quantity: int):
    interaction, product_id = _in_stock(pact, description, name, state=state, on_hand=on_hand)
    order_id = example_id(f"catalog-order:{name}")
    _signed(interaction.with_request("POST", f"{BASE}/reservations/"), f"catalog-stock-reserve:{order_id}").with_body(
        {"order_id": an_id(order_id), "lines": match.each_like(
            {"product_id": an_id(product_id), "quantity": match.int(quantity)}, min=1)}, content_type=JSON)
    return interaction, product_id, order_id


def test_stock_reserve(pact):
    interaction, product_id, order_id = _reserve(pact, "a reservation of stock for an order", "reserve",
                                                 state=shapes.IN_STOCK, on_hand=5, quantity=2)
    interaction.will_respond_with(200).with_body(
        shapes.reservation(order_id=order_id, product_id=product_id, state="reserved"), content_type=JSON)
    with pact.serve() as srv:
        reserved = _client(srv.url).stock_reserve(order_id=uuid.UUID(order_id),
                                                  lines=[StockLine(product_id=uuid.UUID(product_id), quantity=2)])
    assert (reserved.order_id, reserved.state) == (uuid.UUID(order_id), "reserved")
    assert reserved.lines == (StockLine(product_id=uuid.UUID(product_id), quantity=2),)


def test_stock_reserve_beyond_the_stock_is_insufficient(pact):
    interaction, product_id, order_id = _reserve(pact, "a reservation of more units than are left", "oversell",
                                                 state=shapes.LAST_UNIT, on_hand=1, quantity=2)
    interaction.will_respond_with(409).with_body(
        error_body("insufficient_stock", fields={"lines": f"insufficient stock for product {product_id}"}),
        content_type=JSON)
    with pact.serve() as srv, pytest.raises(InsufficientStock) as raised:
        _client(srv.url).stock_reserve(order_id=uuid.UUID(order_id),
                                       lines=[StockLine(product_id=uuid.UUID(product_id), quantity=2)])
    assert (raised.value.code, list(raised.value.fields)) == ("insufficient_stock", ["lines"])


def _step(pact, description: str, step: str, name: str, state: str, *, with_product: bool = True):
    """A stock step (commit, release, return) of one order, in ``state``."""
    order_id, product_id = example_id(f"catalog-order:{name}"), example_id(f"catalog-product:{name}")
    parameters = {"order_id": order_id} | ({"product_id": product_id} if with_product else {})
    interaction = pact.upon_receiving(description).given(state, **parameters)
    _signed(interaction.with_request("POST", f"{BASE}/reservations/{order_id}/{step}/"),
            f"catalog-stock-{step}:{order_id}").with_body({}, content_type=JSON)
    return interaction, order_id, product_id


def test_stock_commit(pact):
    interaction, order_id, product_id = _step(pact, "a commit of an order's reserved stock", "commit", "commit",
                                              shapes.RESERVED)
    interaction.will_respond_with(200).with_body(
        shapes.reservation(order_id=order_id, product_id=product_id, state="committed"), content_type=JSON)
    with pact.serve() as srv:
        committed = _client(srv.url).stock_commit(order_id=uuid.UUID(order_id))
    assert (committed.state, [line.quantity for line in committed.lines]) == ("committed", [2])


def test_stock_release(pact):
    interaction, order_id, product_id = _step(pact, "a release of an order's reserved stock", "release",
                                              "release", shapes.RESERVED)
    interaction.will_respond_with(200).with_body(
        shapes.reservation(order_id=order_id, product_id=product_id, state="released"), content_type=JSON)
    with pact.serve() as srv:
        released = _client(srv.url).stock_release(order_id=uuid.UUID(order_id))
    assert released is not None and released.state == "released"


def test_stock_release_of_an_order_that_never_reserved_is_none(pact):
    """The saga's compensation runs blindly: releasing nothing is an answer, not an error."""
    interaction, order_id, _ = _step(pact, "a release for an order that never reserved stock", "release",
                                     "never-reserved", shapes.NEVER_RESERVED, with_product=False)
    interaction.will_respond_with(200).with_body(
        {"id": None, "order_id": an_id(order_id), "state": "none", "lines": []}, content_type=JSON)
    with pact.serve() as srv:
        assert _client(srv.url).stock_release(order_id=uuid.UUID(order_id)) is None


def test_stock_return_of_a_sold_order(pact):
    interaction, order_id, product_id = _step(pact, "a return of the stock an order bought", "return", "return",
                                              shapes.SOLD)
    interaction.will_respond_with(200).with_body(
        shapes.reservation(order_id=order_id, product_id=product_id, state="released"), content_type=JSON)
    with pact.serve() as srv:
        returned = _client(srv.url).stock_return(order_id=uuid.UUID(order_id))
    assert returned is not None and returned.state == "released"
