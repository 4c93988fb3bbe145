"""The in-process implementation behind ``monolith.payments.interface``: this monolith's own
payments code and tables. It stays as the rollback path (and the synced read copy) while the
extracted payments service takes over.
"""

from __future__ import annotations

import uuid

from monolith.kernel.money import Money
from monolith.payments import selectors, services
from monolith.payments.dtos import PaymentDTO, RefundDTO
from monolith.payments.models import Payment, Refund


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
    return _payment_dto(services.payment_charge(order_id=order_id, user_id=user_id, amount=amount,
                                                card_token=card_token, idempotency_key=idempotency_key))


def payment_get(*, payment_id: uuid.UUID) -> PaymentDTO:
    return _payment_dto(selectors.payment_get(payment_id=payment_id))


def payments_list_by_order(*, order_id: uuid.UUID) -> list[PaymentDTO]:
    return [_payment_dto(p) for p in selectors.payment_list(order_id=order_id)]


def payment_refund(*, payment_id: uuid.UUID, amount: Money | None, idempotency_key: str) -> RefundDTO:
    return _refund_dto(services.payment_refund(payment_id=payment_id, amount=amount, idempotency_key=idempotency_key))
