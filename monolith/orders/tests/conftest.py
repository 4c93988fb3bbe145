import uuid

import pytest

from monolith.catalog import interface as catalog
from monolith.kernel.money import Money
from monolith.orders.services import OrderLineInput, order_create


@pytest.fixture
def products(db) -> dict[str, catalog.ProductDTO]:
    made = {}
    for sku, price, on_hand in [("mug", 1250, 10), ("tee", 2000, 3)]:
        product = catalog.product_create(sku=sku, name=sku.title(), price=Money(price, "EUR"))
        catalog.stock_set(product_id=product.id, on_hand=on_hand)
        made[sku] = product
    return made


@pytest.fixture
def stock(products):
    """Current (on_hand, reserved) per sku."""

    def read() -> dict[str, tuple[int, int]]:
        levels = {sku: catalog.stock_get(product_id=p.id) for sku, p in products.items()}
        return {sku: (s.on_hand, s.reserved) for sku, s in levels.items()}

    return read


@pytest.fixture
def order(products):
    return order_create(user_id=uuid.uuid4(), lines=[OrderLineInput(product_id=products["mug"].id, quantity=2),
                                                      OrderLineInput(product_id=products["tee"].id, quantity=1)])
