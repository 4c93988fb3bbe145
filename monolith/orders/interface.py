"""What other contexts may use from orders: plain functions and frozen DTOs, never models."""

from __future__ import annotations

import dataclasses
import datetime as dt
import uuid

from monolith.orders import selectors
from monolith.orders.models import Order
from strangler.django.errors import NotFound


@dataclasses.dataclass(frozen=True, slots=True)
class OrderLineDTO:
    product_id: uuid.UUID
    sku: str
    quantity: int
    unit_price_minor: int


@dataclasses.dataclass(frozen=True, slots=True)
class OrderDTO:
    id: uuid.UUID
    user_id: uuid.UUID
    status: str  # "pending" | "awaiting_payment" | "confirmed" | "failed" | "cancelled"
    total_minor: int
    currency: str
    created_at: dt.datetime
    lines: tuple[OrderLineDTO, ...]


def _order_dto(order: Order) -> OrderDTO:
    lines = tuple(OrderLineDTO(product_id=x.product_id, sku=x.sku, quantity=x.quantity,
                               unit_price_minor=x.unit_price_minor) for x in order.lines.all())
    return OrderDTO(id=order.id, user_id=order.user_id, status=order.status, total_minor=order.total_minor,
                    currency=order.currency, created_at=order.created_at, lines=lines)


def order_get(*, order_id: uuid.UUID) -> OrderDTO | None:
    try:
        return _order_dto(selectors.order_get(order_id=order_id))
    except NotFound:
        return None
