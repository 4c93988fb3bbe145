"""Whose order a public charge is for. Payments imports no other context (it runs alone in the
payments service), so the check is the callable named by ``settings.PAYMENTS_ORDER_OWNED``:
``owned(order_id=..., user_id=...) -> bool``. ``None`` turns the check off and must be said
explicitly; a project that names nothing is misconfigured."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.utils.module_loading import import_string

from strangler.django.errors import NotFound


def order_ownership_check(*, order_id: uuid.UUID, user_id: uuid.UUID) -> None:
    """Raises NotFound (``order_not_found``) for a missing order and for someone else's alike."""
    if not hasattr(settings, "PAYMENTS_ORDER_OWNED"):
        raise ImproperlyConfigured("PAYMENTS_ORDER_OWNED must name the order-ownership check (or be None)")
    path = settings.PAYMENTS_ORDER_OWNED
    if path is None:
        return
    if not import_string(path)(order_id=order_id, user_id=user_id):
        raise NotFound(f"no order {order_id}", code="order_not_found")
