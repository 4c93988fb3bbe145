"""Writes of the payments context: charges and refunds through the configured processor.

A charge is two short transactions around the processor call: claim a pending row under the
caller's idempotency key, then settle it. The processor call holds no database lock, and a
crash between the two leaves a pending row that the next call with the same key settles (the
processor deduplicates on the key, so the card is never charged twice).

Ids come from the idempotency keys and event ids from the ids (monolith.kernel.ids), so the
monolith and the payments service create the same rows and events for the same request. Every
write bumps ``revision`` and records a PaymentSynced snapshot in its own transaction, which keeps
the other store up to date during the cutover.
"""

from __future__ import annotations

import uuid

from django.db import IntegrityError, transaction

from monolith.kernel.errors import Conflict, DomainError, Unprocessable, ValidationFailed
from monolith.kernel.ids import PAYMENT_ID_NAMESPACE, REFUND_ID_NAMESPACE, event_id_for, id_from_key
from monolith.kernel.money import Money
from monolith.kernel.outbox import outbox_add
from monolith.payments.events import PaymentCaptured, PaymentFailed, PaymentRefunded
from monolith.payments.models import Payment, Refund
from monolith.payments.processors import ProcessorTimeout, processor_get
from monolith.payments.selectors import payment_get
from monolith.payments.sync import payment_synced_event

CARD_TOKEN_MAX = 200
KEY_MAX = 400
PROCESSOR_TIMEOUT = "processor_timeout"


def _check_key(idempotency_key: str) -> None:
    if not idempotency_key or len(idempotency_key) > KEY_MAX:
        raise ValidationFailed("invalid idempotency key", fields={"idempotency_key": [f"1-{KEY_MAX} characters"]})


def _payment_claim(*, order_id: uuid.UUID, user_id: uuid.UUID, amount: Money, idempotency_key: str) -> Payment:
    existing = Payment.objects.filter(idempotency_key=idempotency_key).first()
    if existing is None:
        try:
            with transaction.atomic():
                payment = Payment.objects.create(
                    id=id_from_key(PAYMENT_ID_NAMESPACE, idempotency_key), order_id=order_id, user_id=user_id,
                    amount_minor=amount.amount_minor, currency=amount.currency, idempotency_key=idempotency_key,
                    revision=1,
                )
                outbox_add(event=payment_synced_event(payment=payment))
                return payment
        except IntegrityError:
            existing = Payment.objects.get(idempotency_key=idempotency_key)
    same = (existing.order_id, existing.user_id, existing.amount_minor, existing.currency) == (
        order_id, user_id, amount.amount_minor, amount.currency)
    if not same:
        raise Unprocessable("this idempotency key was used for a different charge", code="idempotency_key_reused")
    return existing


def _payment_settle(*, payment_id: uuid.UUID, processor_ref: str, failure_reason: str = "") -> Payment:
    with transaction.atomic():
        payment = Payment.objects.select_for_update().get(pk=payment_id)
        if payment.status != Payment.PENDING:
            return payment  # a concurrent call with the same key settled it first
        payment.processor_ref = processor_ref
        payment.revision += 1
        if failure_reason:
            payment.status, payment.failure_reason = Payment.FAILED, failure_reason
            event = PaymentFailed(event_id=event_id_for(PaymentFailed.type_name, payment.id),
                                  payment_id=payment.id, order_id=payment.order_id, user_id=payment.user_id,
                                  amount_minor=payment.amount_minor, currency=payment.currency, reason=failure_reason)
        else:
            payment.status, payment.captured_minor = Payment.CAPTURED, payment.amount_minor
            event = PaymentCaptured(event_id=event_id_for(PaymentCaptured.type_name, payment.id),
                                    payment_id=payment.id, order_id=payment.order_id, user_id=payment.user_id,
                                    amount_minor=payment.amount_minor, currency=payment.currency)
        payment.save(update_fields=["status", "failure_reason", "processor_ref", "captured_minor", "revision",
                                    "updated_at"])
        outbox_add(event=event)
        outbox_add(event=payment_synced_event(payment=payment))
    return payment


def payment_charge(*, order_id: uuid.UUID, user_id: uuid.UUID, amount: Money, card_token: str,
                   idempotency_key: str) -> Payment:
    """Charge the card once per idempotency key. A refused charge is a *failed* Payment, not an error."""
    if amount.amount_minor <= 0:
        raise ValidationFailed("a charge must be positive", fields={"amount_minor": ["must be > 0"]})
    if not card_token or len(card_token) > CARD_TOKEN_MAX:
        raise ValidationFailed("invalid card token", fields={"card_token": [f"1-{CARD_TOKEN_MAX} characters"]})
    _check_key(idempotency_key)
    payment = _payment_claim(order_id=order_id, user_id=user_id, amount=amount, idempotency_key=idempotency_key)
    if payment.status != Payment.PENDING:
        return payment
    try:
        result = processor_get().charge(token=card_token, amount=amount, idempotency_key=idempotency_key)
    except ProcessorTimeout:
        return _payment_settle(payment_id=payment.id, processor_ref="", failure_reason=PROCESSOR_TIMEOUT)
    return _payment_settle(payment_id=payment.id, processor_ref=result.processor_ref,
                           failure_reason="" if result.succeeded else (result.failure_code or "card_declined"))


def _refund_replay(refund: Refund, *, payment_id: uuid.UUID, amount: Money | None) -> Refund:
    if refund.payment_id != payment_id or (
        amount is not None and (amount.amount_minor, amount.currency) != (refund.amount_minor, refund.currency)
    ):
        raise Unprocessable("this idempotency key was used for a different refund", code="idempotency_key_reused")
    return refund


def payment_refund(*, payment_id: uuid.UUID, amount: Money | None, idempotency_key: str,
                   currency: str | None = None) -> Refund:
    """Refund ``amount`` (None: everything not yet refunded, in ``currency`` if given); never more
    than captured minus refunded.

    The payment row stays locked across the processor call so concurrent refunds cannot
    together exceed the captured amount.
    """
    _check_key(idempotency_key)
    existing = Refund.objects.filter(idempotency_key=idempotency_key).first()
    if existing is not None:
        return _refund_replay(existing, payment_id=payment_id, amount=amount)
    try:
        with transaction.atomic():
            payment_get(payment_id=payment_id)  # NotFound before locking
            payment = Payment.objects.select_for_update().get(pk=payment_id)
            if payment.status != Payment.CAPTURED:
                raise Conflict(f"payment {payment_id} is {payment.status}, not captured", code="payment_not_captured")
            remaining = payment.captured_minor - payment.refunded_minor
            refund_amount = amount if amount is not None else Money(remaining, currency or payment.currency)
            if refund_amount.currency != payment.currency:
                raise Unprocessable(f"the payment is in {payment.currency}, not {refund_amount.currency}",
                                    code="currency_mismatch", fields={"currency": [f"must be {payment.currency}"]})
            if remaining == 0:
                raise Conflict("the payment is already fully refunded", code="already_refunded")
            if refund_amount.amount_minor <= 0:
                raise ValidationFailed("a refund must be positive", fields={"amount_minor": ["must be > 0"]})
            if refund_amount.amount_minor > remaining:
                raise Conflict(f"at most {remaining} can still be refunded", code="refund_exceeds_captured",
                               fields={"amount_minor": [f"must be <= {remaining}"]})
            try:
                result = processor_get().refund(charge_ref=payment.processor_ref, amount=refund_amount,
                                                idempotency_key=idempotency_key)
            except ProcessorTimeout as exc:
                raise DomainError("the payment processor did not answer", code=PROCESSOR_TIMEOUT,
                                  status_code=504) from exc
            refund = Refund.objects.create(id=id_from_key(REFUND_ID_NAMESPACE, idempotency_key), payment=payment,
                                           amount_minor=refund_amount.amount_minor, currency=refund_amount.currency,
                                           processor_ref=result.processor_ref, idempotency_key=idempotency_key)
            payment.refunded_minor += refund_amount.amount_minor
            payment.revision += 1
            payment.save(update_fields=["refunded_minor", "revision", "updated_at"])
            outbox_add(event=PaymentRefunded(
                event_id=event_id_for(PaymentRefunded.type_name, refund.id),
                payment_id=payment.id, refund_id=refund.id, order_id=payment.order_id,
                amount_minor=refund_amount.amount_minor, currency=refund_amount.currency,
                refunded_total_minor=payment.refunded_minor,
            ))
            outbox_add(event=payment_synced_event(payment=payment))
    except IntegrityError:
        existing = Refund.objects.filter(idempotency_key=idempotency_key).first()
        if existing is None:
            raise
        return _refund_replay(existing, payment_id=payment_id, amount=amount)
    return refund
