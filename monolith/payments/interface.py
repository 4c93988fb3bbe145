"""What other contexts may use from payments.

A thin façade of plain functions and frozen DTOs. Each call is served by this process's code
(``local``) or by the extracted payments service over HTTP (``remote``), as ``switch`` decides,
so callers never know which. A refused charge is a result (``PaymentDTO.status == "failed"``
with ``failure_reason``), not an exception.

When the service cannot be reached, reads fall back to the local copy (kept current by
continuous sync); writes raise PaymentsUnavailable (503, with retry_after), because only the
service may move money once it owns payments: callers keep their state and retry with the same
idempotency key.
"""

from __future__ import annotations

import logging
import uuid

from monolith.kernel.money import Money
from monolith.payments import local, switch
from monolith.payments.dtos import CAPTURED, FAILED, PENDING, PaymentDTO, RefundDTO
from monolith.payments.remote import PaymentsUnavailable, payments_client

__all__ = [
    "CAPTURED", "FAILED", "PENDING", "PaymentDTO", "PaymentsUnavailable", "RefundDTO",
    "payment_charge", "payment_get", "payment_refund", "payments_list_by_order",
]

logger = logging.getLogger(__name__)


def payment_charge(*, order_id: uuid.UUID, user_id: uuid.UUID, amount: Money, card_token: str,
                   idempotency_key: str) -> PaymentDTO:
    """Once per idempotency key: a second call returns the first payment without charging again.
    Raises PaymentsUnavailable when the remote side cannot be reached."""
    if switch.payments_impl(user_id=user_id) == switch.REMOTE:
        return payments_client().payment_charge(order_id=order_id, user_id=user_id, amount=amount,
                                                card_token=card_token, idempotency_key=idempotency_key)
    return local.payment_charge(order_id=order_id, user_id=user_id, amount=amount, card_token=card_token,
                                idempotency_key=idempotency_key)


def payment_get(*, payment_id: uuid.UUID) -> PaymentDTO:
    """Raises NotFound."""
    if switch.payments_impl() == switch.REMOTE:
        try:
            return payments_client().payment_get(payment_id=payment_id)
        except PaymentsUnavailable as exc:
            logger.warning("payment_get(%s) falls back to the local copy: %s", payment_id, exc.message)
    return local.payment_get(payment_id=payment_id)


def payments_list_by_order(*, order_id: uuid.UUID) -> list[PaymentDTO]:
    if switch.payments_impl() == switch.REMOTE:
        try:
            return payments_client().payments_list_by_order(order_id=order_id)
        except PaymentsUnavailable as exc:
            logger.warning("payments_list_by_order(%s) falls back to the local copy: %s", order_id, exc.message)
    return local.payments_list_by_order(order_id=order_id)


def payment_refund(*, payment_id: uuid.UUID, amount: Money | None, idempotency_key: str) -> RefundDTO:
    """Raises Conflict (refund_exceeds_captured, payment_not_captured) or Unprocessable (currency_mismatch),
    PaymentsUnavailable when the remote side cannot be reached."""
    if switch.payments_impl() == switch.REMOTE:
        return payments_client().payment_refund(payment_id=payment_id, amount=amount,
                                                idempotency_key=idempotency_key)
    return local.payment_refund(payment_id=payment_id, amount=amount, idempotency_key=idempotency_key)
