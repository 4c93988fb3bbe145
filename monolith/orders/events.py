"""Events the orders context publishes (payloads carry ids and integer minor units)."""

import dataclasses
import uuid
from typing import ClassVar

from strangler.django.events import Event


@dataclasses.dataclass(frozen=True, kw_only=True)
class OrderPlaced(Event):
    type_name: ClassVar[str] = "orders.OrderPlaced"
    order_id: uuid.UUID
    user_id: uuid.UUID
    total_minor: int
    currency: str


@dataclasses.dataclass(frozen=True, kw_only=True)
class OrderConfirmed(Event):
    type_name: ClassVar[str] = "orders.OrderConfirmed"
    order_id: uuid.UUID
    user_id: uuid.UUID
    total_minor: int
    currency: str
    payment_id: uuid.UUID


@dataclasses.dataclass(frozen=True, kw_only=True)
class OrderFailed(Event):
    type_name: ClassVar[str] = "orders.OrderFailed"
    order_id: uuid.UUID
    user_id: uuid.UUID
    reason: str


@dataclasses.dataclass(frozen=True, kw_only=True)
class OrderCancelled(Event):
    type_name: ClassVar[str] = "orders.OrderCancelled"
    order_id: uuid.UUID
    user_id: uuid.UUID
    refunded_minor: int
    currency: str
