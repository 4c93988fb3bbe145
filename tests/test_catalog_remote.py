"""The monolith's orders on the extracted catalog service (CATALOG_IMPL=remote): the checkout saga
reserves, commits and releases stock on a live catalog service (gunicorn on its own PostgreSQL
database) through monolith.catalog.interface, whose callers do not change; the service's refusals
come back as the catalog's own exceptions; every stock step runs once per order however often it
is called; an unreachable service is a 503 that leaves the saga resumable."""

from __future__ import annotations

import uuid

import pytest
from django.core.exceptions import ImproperlyConfigured

from monolith.catalog import interface as catalog
from monolith.catalog import switch
from monolith.orders.models import CheckoutSaga, Order
from monolith.orders.services import OrderLineInput, order_checkout, order_create
from monolith.payments import interface as payments
from strangler.django.errors import Conflict
from strangler.testing import free_port
from tests.catalog_support import (  # noqa: F401 - fixtures
    Server,
    service,
    service_product,
    service_stock,
    trusted,
)

pytestmark = pytest.mark.integration



@pytest.fixture
def remote(settings, trusted: Server) -> Server:  # noqa: F811 - the fixture
    settings.CATALOG_IMPL = "remote"
    settings.CATALOG_SERVICE_URL = trusted.url
    settings.CATALOG_RETRIES = 0
    return trusted


def test_the_checkout_saga_reserves_and_commits_on_the_service(remote, db) -> None:
    product_id = service_product(remote, on_hand=3)
    order = order_create(user_id=uuid.uuid4(), lines=[OrderLineInput(product_id=product_id, quantity=2)])
    assert (order.total_minor, order.currency) == (2500, "EUR")  # priced from the service's product
    confirmed = order_checkout(order_id=order.id, user_id=order.user_id, card_token="tok_visa")
    assert confirmed.status == "confirmed"
    assert service_stock(remote, product_id) == (1, 0)  # sold on the service
    assert catalog.stock_get(product_id=product_id) == catalog.StockDTO(product_id, 1, 0, 1)


def test_too_little_stock_on_the_service_fails_the_order_without_charging(remote, db) -> None:
    product_id = service_product(remote, on_hand=1)
    order = order_create(user_id=uuid.uuid4(), lines=[OrderLineInput(product_id=product_id, quantity=2)])
    with pytest.raises(Conflict) as refused:
        order_checkout(order_id=order.id, user_id=order.user_id, card_token="tok_visa")
    assert refused.value.code == "insufficient_stock" and "not enough stock" in refused.value.message
    assert CheckoutSaga.objects.get(pk=order.id).step == "failed"
    assert payments.payments_list_by_order(order_id=order.id) == []
    assert service_stock(remote, product_id) == (1, 0)


def test_each_stock_step_runs_once_per_order_however_often_it_is_called(remote, db) -> None:
    product_id = service_product(remote, on_hand=5)
    order_id = uuid.uuid4()
    lines = [catalog.StockLine(product_id=product_id, quantity=2)]
    first = catalog.stock_reserve(order_id=order_id, lines=lines)
    again = catalog.stock_reserve(order_id=order_id, lines=lines)  # a retried saga step
    assert (first.id, first.state) == (again.id, "reserved")
    assert service_stock(remote, product_id) == (5, 2)
    released = catalog.stock_release(order_id=order_id)
    assert released is not None and released.state == "released"
    assert catalog.stock_release(order_id=order_id).state == "released"  # the compensation, repeated
    assert catalog.stock_release(order_id=uuid.uuid4()) is None  # an order that never reserved
    assert service_stock(remote, product_id) == (5, 0)
    with pytest.raises(catalog.ProductNotFound):
        catalog.product_get(product_id=uuid.uuid4())


def test_an_unreachable_service_is_a_503_and_the_saga_resumes(remote, settings, db) -> None:
    product_id = service_product(remote, on_hand=2)
    order = order_create(user_id=uuid.uuid4(), lines=[OrderLineInput(product_id=product_id, quantity=1)])
    settings.CATALOG_SERVICE_URL = f"http://127.0.0.1:{free_port()}"  # nobody listens
    with pytest.raises(catalog.CatalogUnavailable) as down:
        order_checkout(order_id=order.id, user_id=order.user_id, card_token="tok_visa")
    assert down.value.status_code == 503 and down.value.retry_after
    saga = CheckoutSaga.objects.get(pk=order.id)
    assert (saga.step, Order.objects.get(pk=order.id).status) == ("started", "awaiting_payment")  # resumable
    assert service_stock(remote, product_id) == (2, 0)  # nothing reserved
    settings.CATALOG_SERVICE_URL = remote.url  # back: the client's retry resumes the saga
    assert order_checkout(order_id=order.id, user_id=order.user_id, card_token="tok_visa").status == "confirmed"
    assert service_stock(remote, product_id) == (1, 0)


def test_the_catalog_is_local_unless_told_and_never_follows_a_canary(settings) -> None:
    assert switch.catalog_impl() == "local"
    settings.CATALOG_IMPL = "follow"  # stock moves to one owner at a time, never by cohort
    with pytest.raises(ImproperlyConfigured, match="no 'follow'"):
        switch.catalog_impl()
