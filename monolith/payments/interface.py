"""What other contexts may use from payments.

A thin façade of plain functions and frozen DTOs: a later issue swaps the bodies for an HTTP
client of the extracted payments service without touching callers. A refused charge is a
result (``PaymentDTO.status == "failed"`` with ``failure_reason``), not an exception.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import uuid

from monolith.kernel.money import Money
from monolith.payments import selectors, services
from monolith.payments.models import Payment, Refund

CAPTURED = Payment.CAPTURED
FAILED = Payment.FAILED
PENDING = Payment.PENDING


@dataclasses.dataclass(frozen=True, slots=True)
class PaymentDTO:
    id: uuid.UUID
    order_id: uuid.UUID
    user_id: uuid.UUID
    amount_minor: int
    currency: str
    status: str  # "pending" | "captured" | "failed"
    failure_reason: str  # "" unless failed: "card_declined" | "insufficient_funds" | "processor_timeout" | ...
    processor_ref: str
    captured_minor: int
    refunded_minor: int
    created_at: dt.datetime


@dataclasses.dataclass(frozen=True, slots=True)
class RefundDTO:
    id: uuid.UUID
    payment_id: uuid.UUID
    amount_minor: int
    currency: str
    refunded_total_minor: int
    created_at: dt.datetime


def _payment_dto(p: Payment) -> PaymentDTO:
    return PaymentDTO(
        id=p.id, order_id=p.order_id, user_id=p.user_id, amount_minor=p.amount_minor, currency=p.currency,
        status=p.status, failure_reason=p.failure_reason, processor_ref=p.processor_ref,
        captured_minor=p.captured_minor, refunded_minor=p.refunded_minor, created_at=p.created_at,
    )


def _refund_dto(r: Refund) -> RefundDTO:
    return RefundDTO(id=r.id, payment_id=r.payment_id, amount_minor=r.amount_minor, currency=r.currency,
                     refunded_total_minor=r.payment.refunded_minor, created_at=r.created_at)


def payment_charge(*, order_id: uuid.UUID, user_id: uuid.UUID, amount: Money, card_token: str,
                   idempotency_key: str) -> PaymentDTO:
    """Once per idempotency key: a second call returns the first payment without charging again."""
    return _payment_dto(services.payment_charge(order_id=order_id, user_id=user_id, amount=amount,
                                                card_token=card_token, idempotency_key=idempotency_key))


def payment_get(*, payment_id: uuid.UUID) -> PaymentDTO:
    """Raises NotFound."""
    return _payment_dto(selectors.payment_get(payment_id=payment_id))


def payments_list_by_order(*, order_id: uuid.UUID) -> list[PaymentDTO]:
    return [_payment_dto(p) for p in selectors.payment_list(order_id=order_id)]


def payment_refund(*, payment_id: uuid.UUID, amount: Money | None, idempotency_key: str) -> RefundDTO:
    """Raises Conflict (refund_exceeds_captured, payment_not_captured) or Unprocessable (currency_mismatch)."""
    return _refund_dto(services.payment_refund(payment_id=payment_id, amount=amount, idempotency_key=idempotency_key))
