"""Writes of the payments context: charges and refunds through the configured processor.

A charge is two short transactions around the processor call: claim a pending row under the
caller's idempotency key, then settle it. The processor call holds no database lock, and a
crash between the two leaves a pending row that the next call with the same key settles (the
processor deduplicates on the key, so the card is never charged twice). A refund is the same:
reserve, ask, record. The steps are ``atomic(durable=True)``: a caller that would hold its own
transaction open across the processor call gets a RuntimeError instead.

Ids come from the idempotency keys and event ids from the ids (monolith.kernel.ids), so the
monolith and the payments service create the same rows and events for the same request. Every
write bumps ``revision`` and records a PaymentSynced snapshot in its own transaction, which keeps
the other store up to date during the cutover.
"""

from __future__ import annotations

import datetime as dt
import uuid

from django.db import IntegrityError, transaction
from django.utils import timezone

from monolith.kernel.ids import PAYMENT_ID_NAMESPACE, REFUND_ID_NAMESPACE, event_id_for, id_from_key
from monolith.kernel.money import Money
from monolith.payments.events import PaymentCaptured, PaymentFailed, PaymentRefunded
from monolith.payments.models import ChargeAttempt, Payment, Refund, RefundAttempt
from monolith.payments.processors import ProcessorTimeout, processor_get
from monolith.payments.selectors import payment_get
from monolith.payments.sync import payment_synced_event
from strangler.django.errors import Conflict, DomainError, Unprocessable, ValidationFailed
from strangler.django.outbox.services import outbox_add

CARD_TOKEN_MAX = 200
KEY_MAX = 400
PROCESSOR_TIMEOUT = "processor_timeout"
SWEEP_BATCH = 200


def _check_key(idempotency_key: str) -> None:
    if not idempotency_key or len(idempotency_key) > KEY_MAX:
        raise ValidationFailed("invalid idempotency key", fields={"idempotency_key": [f"1-{KEY_MAX} characters"]})


def _payment_claim(*, order_id: uuid.UUID, user_id: uuid.UUID, amount: Money, card_token: str,
                   idempotency_key: str) -> Payment:
    existing = Payment.objects.filter(idempotency_key=idempotency_key).first()
    if existing is None:
        try:
            with transaction.atomic(durable=True):  # committed before the processor is asked
                payment = Payment.objects.create(
                    id=id_from_key(PAYMENT_ID_NAMESPACE, idempotency_key), order_id=order_id, user_id=user_id,
                    amount_minor=amount.amount_minor, currency=amount.currency, idempotency_key=idempotency_key,
                    revision=1,
                )
                ChargeAttempt.objects.create(payment=payment, card_token=card_token)
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
    with transaction.atomic(durable=True):
        payment = Payment.objects.select_for_update().get(pk=payment_id)
        if payment.status != Payment.PENDING:
            return payment  # a concurrent call with the same key settled it first
        payment.processor_ref = processor_ref
        payment.revision += 1
        if failure_reason:
            assert failure_reason != PROCESSOR_TIMEOUT, "a timeout is an unknown outcome, not a failure"
            payment.status, payment.failure_reason = Payment.FAILED, failure_reason
            event = PaymentFailed(event_id=event_id_for(PaymentFailed.type_name, payment.id),
                                  payment_id=payment.id, order_id=payment.order_id, user_id=payment.user_id,
                                  amount_minor=payment.amount_minor, currency=payment.currency, reason=failure_reason)
        else:
            payment.status, payment.captured_minor = Payment.CAPTURED, payment.amount_minor
            payment.failure_reason = ""  # no longer unknown (processor_timeout), if it was
            event = PaymentCaptured(event_id=event_id_for(PaymentCaptured.type_name, payment.id),
                                    payment_id=payment.id, order_id=payment.order_id, user_id=payment.user_id,
                                    amount_minor=payment.amount_minor, currency=payment.currency)
        payment.save(update_fields=["status", "failure_reason", "processor_ref", "captured_minor", "revision",
                                    "updated_at"])
        ChargeAttempt.objects.filter(payment_id=payment.id).delete()  # its token is no longer needed
        outbox_add(event=event)
        outbox_add(event=payment_synced_event(payment=payment))
    return payment


def _payment_mark_unknown(*, payment_id: uuid.UUID) -> Payment:
    """The processor did not answer: the card may or may not have been charged. The payment stays
    pending with ``failure_reason = processor_timeout`` (its *unknown outcome* mark) until a call
    with the same key (the client's retry, the checkout sweep) gets the processor's answer."""
    with transaction.atomic(durable=True):
        payment = Payment.objects.select_for_update().get(pk=payment_id)
        if payment.status != Payment.PENDING or payment.failure_reason == PROCESSOR_TIMEOUT:
            return payment
        payment.failure_reason = PROCESSOR_TIMEOUT
        payment.revision += 1
        payment.save(update_fields=["failure_reason", "revision", "updated_at"])
        outbox_add(event=payment_synced_event(payment=payment))
    return payment


def charges_resolve_unknown(*, older_than: dt.timedelta) -> list[Payment]:
    """Ask the processor again, with the same key, about every charge still pending (its answer was
    lost, its caller gone) that nobody touched for ``older_than``; returns the payments asked about,
    as they stand after. A processor that still does not answer leaves them pending for the next
    sweep."""
    cutoff = timezone.now() - older_than
    attempts = ChargeAttempt.objects.filter(payment__status=Payment.PENDING, payment__updated_at__lt=cutoff)
    asked = []
    for attempt in attempts.select_related("payment").order_by("payment__updated_at")[:SWEEP_BATCH]:
        payment = attempt.payment
        asked.append(payment_charge(order_id=payment.order_id, user_id=payment.user_id,
                                    amount=Money(payment.amount_minor, payment.currency),
                                    card_token=attempt.card_token, idempotency_key=payment.idempotency_key))
    return asked


def payment_outcome_unknown(payment: Payment) -> bool:
    """Asked, and the processor did not answer: retry with the same key to learn the outcome."""
    return payment.status == Payment.PENDING and payment.failure_reason == PROCESSOR_TIMEOUT


def payment_charge(*, order_id: uuid.UUID, user_id: uuid.UUID, amount: Money, card_token: str,
                   idempotency_key: str) -> Payment:
    """Charge the card once per idempotency key. A refused charge is a *failed* Payment, not an error.

    A pending payment is asked again with the same key (the processor deduplicates on it); when
    the processor does not answer the payment stays *pending* with an unknown outcome
    (``payment_outcome_unknown``), never failed: the card may have been charged."""
    if amount.amount_minor <= 0:
        raise ValidationFailed("a charge must be positive", fields={"amount_minor": ["must be > 0"]})
    if not card_token or len(card_token) > CARD_TOKEN_MAX:
        raise ValidationFailed("invalid card token", fields={"card_token": [f"1-{CARD_TOKEN_MAX} characters"]})
    _check_key(idempotency_key)
    payment = _payment_claim(order_id=order_id, user_id=user_id, amount=amount, card_token=card_token,
                             idempotency_key=idempotency_key)
    if payment.status != Payment.PENDING:
        return payment
    try:
        result = processor_get().charge(token=card_token, amount=amount, idempotency_key=idempotency_key)
    except ProcessorTimeout:
        return _payment_mark_unknown(payment_id=payment.id)
    return _payment_settle(payment_id=payment.id, processor_ref=result.processor_ref,
                           failure_reason="" if result.succeeded else (result.failure_code or "card_declined"))


def _refund_replay(refund: Refund | RefundAttempt, *, payment_id: uuid.UUID, amount: Money | None) -> None:
    if refund.payment_id != payment_id or (
        amount is not None and (amount.amount_minor, amount.currency) != (refund.amount_minor, refund.currency)
    ):
        raise Unprocessable("this idempotency key was used for a different refund", code="idempotency_key_reused")


def _refund_reserve(*, payment_id: uuid.UUID, amount: Money | None, currency: str | None,
                    idempotency_key: str) -> tuple[Payment, RefundAttempt]:
    """Step 1, committed before the processor is asked: check the refund and reserve its amount."""
    payment_get(payment_id=payment_id)  # NotFound before locking
    with transaction.atomic(durable=True):
        payment = Payment.objects.select_for_update().get(pk=payment_id)
        attempt = RefundAttempt.objects.filter(idempotency_key=idempotency_key).first()
        if attempt is not None:  # a retry of a refund whose answer was lost: ask again with its key
            _refund_replay(attempt, payment_id=payment_id, amount=amount)
            return payment, attempt
        if payment.status != Payment.CAPTURED:
            # Transient while pending: the same refund may go through once the charge is captured.
            raise Conflict(f"payment {payment_id} is {payment.status}, not captured", code="payment_not_captured",
                           transient=payment.status == Payment.PENDING)
        in_flight = sum(RefundAttempt.objects.filter(payment=payment).values_list("amount_minor", flat=True))
        remaining = payment.captured_minor - payment.refunded_minor - in_flight
        refund_amount = amount if amount is not None else Money(remaining, currency or payment.currency)
        if refund_amount.currency != payment.currency:
            raise Unprocessable(f"the payment is in {payment.currency}, not {refund_amount.currency}",
                                code="currency_mismatch", fields={"currency": [f"must be {payment.currency}"]})
        if payment.captured_minor == payment.refunded_minor:
            raise Conflict("the payment is already fully refunded", code="already_refunded")
        if refund_amount.amount_minor <= 0 and amount is None:
            raise Conflict("the rest of the payment is being refunded", code="refund_in_progress", transient=True)
        if refund_amount.amount_minor <= 0:
            raise ValidationFailed("a refund must be positive", fields={"amount_minor": ["must be > 0"]})
        if refund_amount.amount_minor > remaining:
            raise Conflict(f"at most {remaining} can still be refunded", code="refund_exceeds_captured",
                           fields={"amount_minor": [f"must be <= {remaining}"]})
        attempt = RefundAttempt.objects.create(payment=payment, amount_minor=refund_amount.amount_minor,
                                               currency=refund_amount.currency, idempotency_key=idempotency_key)
    return payment, attempt


def _refund_record(*, attempt: RefundAttempt, processor_ref: str) -> Refund:
    """Step 3, after the processor answered: the Refund row, the payment's total and the events."""
    with transaction.atomic(durable=True):
        payment = Payment.objects.select_for_update().get(pk=attempt.payment_id)
        done = Refund.objects.filter(idempotency_key=attempt.idempotency_key).first()
        if done is not None:  # a concurrent call with the same key recorded it first
            return done
        refund = Refund.objects.create(id=id_from_key(REFUND_ID_NAMESPACE, attempt.idempotency_key), payment=payment,
                                       amount_minor=attempt.amount_minor, currency=attempt.currency,
                                       processor_ref=processor_ref, idempotency_key=attempt.idempotency_key)
        RefundAttempt.objects.filter(pk=attempt.pk).delete()
        payment.refunded_minor += attempt.amount_minor
        payment.revision += 1
        payment.save(update_fields=["refunded_minor", "revision", "updated_at"])
        outbox_add(event=PaymentRefunded(
            event_id=event_id_for(PaymentRefunded.type_name, refund.id),
            payment_id=payment.id, refund_id=refund.id, order_id=payment.order_id,
            amount_minor=attempt.amount_minor, currency=attempt.currency,
            refunded_total_minor=payment.refunded_minor,
        ))
        outbox_add(event=payment_synced_event(payment=payment))
    return refund


def refunds_resolve_unknown(*, older_than: dt.timedelta) -> list[Refund | RefundAttempt]:
    """Finish every refund reserved and asked of the processor whose answer was lost and whose caller
    never retried, once untouched for ``older_than``: ask again with the same key and record the
    refund the processor answers with (it made it at most once). Returns the refunds recorded, and
    the attempts a still-silent processor left for the next sweep."""
    cutoff = timezone.now() - older_than
    finished: list[Refund | RefundAttempt] = []
    for attempt in RefundAttempt.objects.filter(created_at__lt=cutoff).select_related("payment")[:SWEEP_BATCH]:
        try:
            result = processor_get().refund(charge_ref=attempt.payment.processor_ref,
                                            amount=Money(attempt.amount_minor, attempt.currency),
                                            idempotency_key=attempt.idempotency_key)
        except ProcessorTimeout:
            finished.append(attempt)
            continue
        finished.append(_refund_record(attempt=attempt, processor_ref=result.processor_ref))
    return finished


def payment_refund(*, payment_id: uuid.UUID, amount: Money | None, idempotency_key: str,
                   currency: str | None = None) -> Refund:
    """Refund ``amount`` (None: everything not yet refunded, in ``currency`` if given); never more
    than captured minus refunded.

    Three steps, none holding a transaction across the processor call: reserve the amount (a
    RefundAttempt, committed), ask the processor with the key, record the Refund. A lost answer
    (ProcessorTimeout, a crash) leaves the attempt: the retry with the same key asks again, and the
    processor answers with the refund it made, so a refund never exists at the processor only.
    Concurrent refunds cannot together exceed the captured amount: attempts reserve theirs.
    """
    _check_key(idempotency_key)
    existing = Refund.objects.filter(idempotency_key=idempotency_key).first()
    if existing is not None:
        _refund_replay(existing, payment_id=payment_id, amount=amount)
        return existing
    try:
        payment, attempt = _refund_reserve(payment_id=payment_id, amount=amount, currency=currency,
                                           idempotency_key=idempotency_key)
    except IntegrityError:  # the same key reserved concurrently
        attempt = RefundAttempt.objects.filter(idempotency_key=idempotency_key).first()
        done = Refund.objects.filter(idempotency_key=idempotency_key).first()
        if done is not None:
            _refund_replay(done, payment_id=payment_id, amount=amount)
            return done
        if attempt is None:
            raise
        _refund_replay(attempt, payment_id=payment_id, amount=amount)
        payment = Payment.objects.get(pk=attempt.payment_id)
    try:
        result = processor_get().refund(charge_ref=payment.processor_ref,
                                        amount=Money(attempt.amount_minor, attempt.currency),
                                        idempotency_key=idempotency_key)
    except ProcessorTimeout as exc:
        raise DomainError("the payment processor did not answer; retry with the same key", code=PROCESSOR_TIMEOUT,
                          status_code=504) from exc
    return _refund_record(attempt=attempt, processor_ref=result.processor_ref)
