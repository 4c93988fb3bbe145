import uuid

import pytest

from monolith.catalog import interface as catalog
from monolith.kernel.money import Money
from monolith.orders.models import Order, OrderLine
from monolith.orders.services import OrderLineInput, order_create
from strangler.django.errors import DomainError
from strangler.django.outbox.models import OutboxMessage


def _line(product, quantity=1):
    return OrderLineInput(product_id=product.id, quantity=quantity)


def test_prices_come_from_the_catalog(products):
    user_id = uuid.uuid4()
    order = order_create(user_id=user_id, lines=[_line(products["mug"], 2), _line(products["tee"])])
    assert (order.status, order.total_minor, order.currency) == ("pending", 4500, "EUR")
    assert sorted((x.sku, x.quantity, x.unit_price_minor) for x in order.lines.all()) == [
        ("mug", 2, 1250), ("tee", 1, 2000)]
    [event] = OutboxMessage.objects.filter(event_type="orders.OrderPlaced")
    assert event.envelope["payload"] == {"order_id": str(order.id), "user_id": str(user_id),
                                         "total_minor": 4500, "currency": "EUR"}


def _refused(lines, currency=None, status=None) -> DomainError:
    """Input the schema refuses is a 400 (ValidationFailed); a well-formed order a rule refuses, 422."""
    events = OutboxMessage.objects.count()  # the products' own (catalog.ProductSynced)
    with pytest.raises(DomainError) as exc:
        order_create(user_id=uuid.uuid4(), lines=lines, currency=currency)
    assert Order.objects.count() == 0
    assert OrderLine.objects.count() == 0
    assert OutboxMessage.objects.count() == events
    if status is not None:
        assert exc.value.status_code == status
    return exc.value


def test_unknown_product_writes_nothing(products):
    missing = uuid.uuid4()
    error = _refused([_line(products["mug"]), OrderLineInput(product_id=missing, quantity=1)], status=422)
    assert error.code == "unknown_product"
    assert str(missing) in error.message


def test_inactive_product_is_unknown(products):
    old = catalog.product_create(sku="old", name="Old", price=Money(5, "EUR"), active=False)
    assert _refused([_line(old)], status=422).code == "unknown_product"


def test_products_must_share_the_currency(products):
    usd = catalog.product_create(sku="cap", name="Cap", price=Money(900, "USD"))
    assert _refused([_line(products["mug"]), _line(usd)], status=422).code == "currency_mismatch"
    assert _refused([_line(products["mug"])], currency="USD", status=422).code == "currency_mismatch"


@pytest.mark.parametrize("quantity", [0, -1, 1001, True])
def test_quantity_bounds(products, quantity):
    _refused([OrderLineInput(product_id=products["mug"].id, quantity=quantity)], status=400)


def test_duplicate_lines_and_empty_orders_are_refused(products):
    assert _refused([_line(products["mug"]), _line(products["mug"])], status=422).code == "duplicate_product"
    _refused([], status=400)
