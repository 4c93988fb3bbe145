"""Reads of the payments context."""

from __future__ import annotations

import uuid

from django.db.models import QuerySet

from monolith.payments.models import Payment
from strangler.django.errors import NotFound


def payment_get(*, payment_id: uuid.UUID, user_id: uuid.UUID | None = None) -> Payment:
    """Another user's payment is reported exactly like a missing one."""
    payments = Payment.objects.filter(pk=payment_id)
    if user_id is not None:
        payments = payments.filter(user_id=user_id)
    payment = payments.first()
    if payment is None:
        raise NotFound(f"no payment {payment_id}", code="payment_not_found")
    return payment


def payment_list(*, order_id: uuid.UUID | None = None, user_id: uuid.UUID | None = None) -> QuerySet[Payment]:
    payments = Payment.objects.order_by("created_at", "id")
    if order_id is not None:
        payments = payments.filter(order_id=order_id)
    if user_id is not None:
        payments = payments.filter(user_id=user_id)
    return payments
