"""Reads of the orders context."""

from __future__ import annotations

import datetime as dt
import uuid

from django.db.models import QuerySet
from django.utils import timezone

from monolith.orders.models import CheckoutSaga, Order
from strangler.django.errors import NotFound


def order_list(*, user_id: uuid.UUID) -> QuerySet[Order]:
    return Order.objects.filter(user_id=user_id).select_related("saga").prefetch_related("lines")


def order_get(*, order_id: uuid.UUID, user_id: uuid.UUID | None = None) -> Order:
    """Another user's order is reported exactly like a missing one."""
    orders = Order.objects.filter(pk=order_id).select_related("saga").prefetch_related("lines")
    if user_id is not None:
        orders = orders.filter(user_id=user_id)
    order = orders.first()
    if order is None:
        raise NotFound(f"no order {order_id}", code="order_not_found")
    return order


def sagas_stale(*, older_than: dt.timedelta) -> list[uuid.UUID]:
    """Order ids whose checkout stopped in a non-terminal step longer than ``older_than`` ago."""
    cutoff = timezone.now() - older_than
    sagas = CheckoutSaga.objects.filter(step__in=CheckoutSaga.ACTIVE_STEPS, updated_at__lt=cutoff)
    return list(sagas.order_by("updated_at").values_list("order_id", flat=True))
