"""Consumer-side state of the event pacts: what the monolith holds when a payments event arrives.

A message pact carries fixed example ids, so the order and the shopper an event names are created
here with exactly those ids. The catalog is driven through its interface; the order, its checkout
saga and the shopper are rows written directly, because no service creates them under a given id
(orders and users mint their own). This is test set-up of the consumer, not provider seeding.
"""

from __future__ import annotations

import uuid

from django.contrib.auth import get_user_model

from monolith.catalog import interface as catalog
from monolith.kernel.money import Money
from monolith.orders.models import CheckoutSaga, Order, OrderLine


def shopper_create(*, user_id: uuid.UUID) -> str:
    """A registered shopper with this id; returns their e-mail address."""
    email = f"shopper-{user_id.hex[:12]}@example.com"
    get_user_model().objects.create_user(email=email, password="contract-pass-123", id=user_id)
    return email


def checkout_waiting_on_payment(*, order_id: uuid.UUID, user_id: uuid.UUID, amount: Money,
                                card_token: str) -> None:
    """An order whose checkout reserved its stock and waits for the charge's outcome (the saga
    stopped at ``stock_reserved``, as when payments' answer was lost), paying with ``card_token``."""
    product = catalog.product_create(sku=f"sku-{order_id.hex[:12]}", name="Contract mug", price=amount)
    catalog.stock_set(product_id=product.id, on_hand=5)
    order = Order.objects.create(id=order_id, user_id=user_id, status=Order.AWAITING_PAYMENT,
                                 total_minor=amount.amount_minor, currency=amount.currency)
    OrderLine.objects.create(order=order, product_id=product.id, sku=product.sku, quantity=1,
                             unit_price_minor=amount.amount_minor)
    catalog.stock_reserve(order_id=order_id, lines=[catalog.StockLine(product_id=product.id, quantity=1)])
    CheckoutSaga.objects.create(order=order, step=CheckoutSaga.STOCK_RESERVED, card_token=card_token,
                                attempts=1)


def stock_of(*, order_id: uuid.UUID) -> tuple[int, int]:
    """(on hand, reserved) of the order's one product."""
    line = OrderLine.objects.get(order_id=order_id)
    stock = catalog.stock_get(product_id=line.product_id)
    return stock.on_hand, stock.reserved
