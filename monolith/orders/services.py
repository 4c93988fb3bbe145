"""Writes of the orders context: order placement and the checkout saga.

Checkout = reserve stock -> charge -> commit stock and confirm. Every step commits before the
next one starts and every step is idempotent (the reservation is keyed by order id, the charge
by a key derived from the order id), so a crashed checkout is resumed by running the saga
again from its recorded step; a failed charge is compensated by releasing the stock.

When payments cannot be reached (PaymentsUnavailable) the saga simply stops where it is: the
stock stays reserved, the step stays ``stock_reserved``, and the next attempt (the client's retry,
a payment event, the periodic sweep) charges with the same key, so at most once.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import uuid
from collections.abc import Sequence

from django.db import transaction
from django.utils import timezone

from monolith.catalog import interface as catalog
from monolith.kernel.money import Money, MoneyError
from monolith.orders.events import OrderCancelled, OrderConfirmed, OrderFailed, OrderPlaced
from monolith.orders.models import CheckoutSaga, Order, OrderLine
from monolith.payments import interface as payments
from strangler.django.errors import Conflict, DomainError, NotFound, Unprocessable, ValidationFailed
from strangler.django.outbox.services import outbox_add

MAX_LINES = 100
MAX_QUANTITY = 1000
CARD_TOKEN_MAX = 200
# A saga touched more recently than this is taken to be running in another request.
IN_PROGRESS_WINDOW = dt.timedelta(seconds=30)
ABANDONED = "checkout_abandoned"


@dataclasses.dataclass(frozen=True, slots=True)
class OrderLineInput:
    product_id: uuid.UUID
    quantity: int


class CheckoutPaymentFailed(DomainError):
    status_code = 402
    code = "payment_failed"


class PaymentOutcomeUnknown(Conflict):
    """Transient: a charge of the order awaits the processor's answer; cancel once it is known."""

    code = "payment_outcome_unknown"
    transient = True


class CheckoutInProgress(Conflict):
    """Transient: the same request may succeed shortly, so it must not be stored as the key's outcome."""

    code = "checkout_in_progress"


def _check_lines(lines: Sequence[OrderLineInput]) -> None:
    if not lines or len(lines) > MAX_LINES:
        raise ValidationFailed(f"an order has 1-{MAX_LINES} lines", fields={"lines": [f"1-{MAX_LINES} lines"]})
    for line in lines:
        q = line.quantity
        if isinstance(q, bool) or not isinstance(q, int) or not 1 <= q <= MAX_QUANTITY:
            raise ValidationFailed("invalid quantity", fields={"lines": [f"quantity must be 1-{MAX_QUANTITY}"]})
    if len({line.product_id for line in lines}) != len(lines):
        raise Unprocessable("each product may appear on one line only", code="duplicate_product",
                               fields={"lines": ["duplicate product_id"]})


def order_create(*, user_id: uuid.UUID, lines: Sequence[OrderLineInput], currency: str | None = None) -> Order:
    """Prices come from the catalog, never from the caller. Nothing is written on any refusal.

    What the API's schema states (line count, quantities) is a 400; a well-formed order the rules
    refuse (a product twice, an unknown product, mixed currencies, a total out of range) is a 422.
    """
    _check_lines(lines)
    products = catalog.products_get_many(product_ids=[line.product_id for line in lines])
    unknown = [str(line.product_id) for line in lines
               if line.product_id not in products or not products[line.product_id].active]
    if unknown:
        raise Unprocessable(f"unknown product {', '.join(unknown)}", code="unknown_product",
                               fields={"lines": [f"unknown product {pid}" for pid in unknown]})
    currencies = {p.currency for p in products.values()}
    if len(currencies) > 1 or (currency is not None and currency not in currencies):
        raise Unprocessable(f"all products are priced in {', '.join(sorted(currencies))}",
                               code="currency_mismatch", fields={"currency": [f"products are in {sorted(currencies)}"]})
    order_currency = currencies.pop()
    try:
        total = Money.zero(order_currency)
        for line in lines:
            total += products[line.product_id].price.times(line.quantity)
    except MoneyError as exc:
        raise Unprocessable("order total out of range", code="amount_out_of_range") from exc
    with transaction.atomic():
        order = Order.objects.create(user_id=user_id, total_minor=total.amount_minor, currency=total.currency)
        OrderLine.objects.bulk_create([
            OrderLine(order=order, product_id=line.product_id, sku=products[line.product_id].sku,
                      quantity=line.quantity, unit_price_minor=products[line.product_id].price_minor)
            for line in lines
        ])
        outbox_add(event=OrderPlaced(order_id=order.id, user_id=order.user_id, total_minor=order.total_minor,
                                     currency=order.currency))
    return order


def charge_idempotency_key(*, order_id: uuid.UUID) -> str:
    """The same for every attempt at one order: a resumed saga can never charge twice."""
    return f"orders.checkout:{order_id}"


def order_checkout(*, order_id: uuid.UUID, user_id: uuid.UUID, card_token: str) -> Order:
    """Run (or resume) the checkout saga. Returns the order: confirmed, or ``awaiting_payment`` when
    the charge's outcome is not known yet (the processor did not answer: the stock stays reserved
    and the next attempt asks again with the same key); raises CheckoutPaymentFailed (402) after
    compensating a refused charge, Conflict for a failed order or a checkout in flight."""
    if not card_token or len(card_token) > CARD_TOKEN_MAX:
        raise ValidationFailed("invalid card token", fields={"card_token": [f"1-{CARD_TOKEN_MAX} characters"]})
    order = _checkout_begin(order_id=order_id, user_id=user_id, card_token=card_token)
    if order.status == Order.CONFIRMED:
        return order
    order = _saga_drive_or_pause(order_id=order_id)
    return _checkout_outcome(order_id=order.id)


def _checkout_begin(*, order_id: uuid.UUID, user_id: uuid.UUID, card_token: str) -> Order:
    with transaction.atomic():
        order = Order.objects.select_for_update().filter(pk=order_id, user_id=user_id).first()
        if order is None:
            raise NotFound(f"no order {order_id}", code="order_not_found")
        if order.status == Order.CONFIRMED:
            return order
        if order.status in (Order.FAILED, Order.CANCELLED):
            raise Conflict(f"order {order_id} is {order.status}", code=f"order_{order.status}")
        saga, created = CheckoutSaga.objects.select_for_update().get_or_create(order=order)
        if not created and saga.updated_at > timezone.now() - IN_PROGRESS_WINDOW:
            raise CheckoutInProgress("a checkout of this order is in progress; retry shortly")
        saga.card_token = card_token
        saga.attempts += 1
        saga.save(update_fields=["card_token", "attempts", "updated_at"])
        if order.status == Order.PENDING:
            order.status = Order.AWAITING_PAYMENT
            order.save(update_fields=["status", "updated_at"])
    return order


def _checkout_outcome(*, order_id: uuid.UUID) -> Order:
    order = Order.objects.select_related("saga").get(pk=order_id)
    if order.status == Order.CONFIRMED:
        return order
    saga = order.saga
    if order.status == Order.FAILED:
        if saga.payment_id is not None:
            raise CheckoutPaymentFailed(saga.failure_message, code=saga.failure_reason or None)
        raise Conflict(saga.failure_message or "checkout failed", code=saga.failure_reason or "checkout_failed")
    if order.status == Order.AWAITING_PAYMENT and saga.step in CheckoutSaga.ACTIVE_STEPS:
        # The outcome is unknown: nobody drives the saga now, so the client's retry asks again at once.
        _saga_pause(order_id=order_id)
        return order
    raise CheckoutInProgress("the checkout has not finished yet; retry shortly")


def order_checkout_resume(*, order_id: uuid.UUID) -> Order:
    """Drive a stopped checkout forward from its recorded step, or compensate it."""
    with transaction.atomic():
        saga = CheckoutSaga.objects.select_for_update().filter(pk=order_id).first()
        if saga is None:
            raise NotFound(f"no checkout for order {order_id}", code="checkout_not_found")
        if saga.step not in CheckoutSaga.ACTIVE_STEPS:
            return Order.objects.get(pk=order_id)
        saga.attempts += 1
        saga.save(update_fields=["attempts", "updated_at"])
    return _saga_drive_or_pause(order_id=order_id)


def order_checkout_waiting_on_payment(*, order_id: uuid.UUID) -> bool:
    """Whether the order's checkout holds its stock and waits for a charge outcome."""
    return CheckoutSaga.objects.filter(pk=order_id, step=CheckoutSaga.STOCK_RESERVED).exists()


def _saga_drive_or_pause(*, order_id: uuid.UUID) -> Order:
    """Drive the saga; when payments or the catalog is unreachable, leave it resumable and let the
    error through (503 with Retry-After)."""
    try:
        return _saga_drive(order_id=order_id)
    except (payments.PaymentsUnavailable, catalog.CatalogUnavailable):
        _saga_pause(order_id=order_id)
        raise


def _saga_pause(*, order_id: uuid.UUID) -> None:
    """Nobody drives the saga any more: give up its in-progress window (``updated_at`` is its lease)
    so the client's retry after Retry-After resumes it at once instead of answering 409 for 30 s.
    ``update()`` on purpose: ``save()`` would stamp updated_at with now."""
    CheckoutSaga.objects.filter(pk=order_id, step__in=CheckoutSaga.ACTIVE_STEPS).update(
        updated_at=timezone.now() - IN_PROGRESS_WINDOW)


def _saga_drive(*, order_id: uuid.UUID) -> Order:
    saga = CheckoutSaga.objects.select_related("order").get(pk=order_id)
    order = saga.order
    if saga.step == CheckoutSaga.STARTED:
        if not saga.card_token:
            return _saga_end(order_id=order_id, reason=ABANDONED, message="checkout abandoned before payment")
        lines = [catalog.StockLine(product_id=line.product_id, quantity=line.quantity) for line in order.lines.all()]
        try:
            catalog.stock_reserve(order_id=order_id, lines=lines)
        except (catalog.InsufficientStock, catalog.ProductNotFound) as exc:
            return _saga_end(order_id=order_id, reason=exc.code, message=exc.message)
        saga = _saga_advance(order_id=order_id, from_step=CheckoutSaga.STARTED, to_step=CheckoutSaga.STOCK_RESERVED)
    if saga.step == CheckoutSaga.STOCK_RESERVED:
        payment = _saga_payment(saga=saga, order=order)
        if payment is None:
            return _saga_end(order_id=order_id, reason=ABANDONED, message="checkout abandoned before payment")
        if payment.status == payments.PENDING:
            return Order.objects.get(pk=order_id)
        if payment.status == payments.FAILED:
            return _saga_end(order_id=order_id, reason=payment.failure_reason, payment_id=payment.id,
                             message=f"the charge was refused ({payment.failure_reason}); payment {payment.id}")
        saga = _saga_advance(order_id=order_id, from_step=CheckoutSaga.STOCK_RESERVED,
                             to_step=CheckoutSaga.PAYMENT_CHARGED, payment_id=payment.id)
    if saga.step == CheckoutSaga.PAYMENT_CHARGED:
        catalog.stock_commit(order_id=order_id)
        return _saga_confirm(order_id=order_id)
    return Order.objects.get(pk=order_id)


def _saga_payment(*, saga: CheckoutSaga, order: Order) -> payments.PaymentDTO | None:
    if saga.card_token:
        return payments.payment_charge(
            order_id=order.id, user_id=order.user_id, amount=Money(order.total_minor, order.currency),
            card_token=saga.card_token, idempotency_key=charge_idempotency_key(order_id=order.id),
        )
    # Without a token we cannot charge; settle on whatever payments already knows of the order.
    known = [p for p in payments.payments_list_by_order(order_id=order.id)
             if (p.amount_minor, p.currency) == (order.total_minor, order.currency)]
    for status in (payments.CAPTURED, payments.PENDING, payments.FAILED):
        matching = [p for p in known if p.status == status]
        if matching:
            return matching[-1]
    return None


def _saga_advance(*, order_id: uuid.UUID, from_step: str, to_step: str,
                  payment_id: uuid.UUID | None = None) -> CheckoutSaga:
    """Move on only from the expected step; if another runner moved it, continue from where it is."""
    with transaction.atomic():
        saga = CheckoutSaga.objects.select_for_update().get(pk=order_id)
        if saga.step == from_step:
            saga.step = to_step
            if payment_id is not None:
                saga.payment_id = payment_id
            saga.save(update_fields=["step", "payment_id", "updated_at"])
    return saga


def _saga_end(*, order_id: uuid.UUID, reason: str, message: str, payment_id: uuid.UUID | None = None) -> Order:
    """Fail the order; release whatever stock it holds (the compensation) first."""
    released = catalog.stock_release(order_id=order_id)
    with transaction.atomic():
        saga = CheckoutSaga.objects.select_for_update().select_related("order").get(pk=order_id)
        order = saga.order
        if saga.step not in CheckoutSaga.ACTIVE_STEPS:
            return order
        saga.step = CheckoutSaga.COMPENSATED if released is not None else CheckoutSaga.FAILED
        saga.failure_reason, saga.failure_message = reason[:64], message[:300]
        saga.payment_id = payment_id or saga.payment_id
        saga.card_token = ""
        saga.save()
        order.status = Order.FAILED
        order.save(update_fields=["status", "updated_at"])
        outbox_add(event=OrderFailed(order_id=order.id, user_id=order.user_id, reason=saga.failure_reason))
    return order


def _saga_confirm(*, order_id: uuid.UUID) -> Order:
    with transaction.atomic():
        saga = CheckoutSaga.objects.select_for_update().select_related("order").get(pk=order_id)
        order = saga.order
        if saga.step != CheckoutSaga.PAYMENT_CHARGED:
            return order
        saga.step, saga.card_token = CheckoutSaga.CONFIRMED, ""
        saga.save(update_fields=["step", "card_token", "updated_at"])
        order.status = Order.CONFIRMED
        order.save(update_fields=["status", "updated_at"])
        outbox_add(event=OrderConfirmed(order_id=order.id, user_id=order.user_id, total_minor=order.total_minor,
                                        currency=order.currency, payment_id=saga.payment_id))
    return order


def cancel_refund_key(*, order_id: uuid.UUID, payment_id: uuid.UUID) -> str:
    """The same for every attempt at cancelling one order: a retried cancel refunds once."""
    return f"orders.cancel:{order_id}:{payment_id}"


def order_cancel(*, order_id: uuid.UUID, user_id: uuid.UUID) -> Order:
    """Cancel the order: its stock goes back (reserved released, sold returned), every capture is
    refunded in full, and it ends ``cancelled``. Idempotent: cancelling a cancelled order returns it.

    Steps commit before anything calls out: (1) take the checkout's lease so no checkout runs
    meanwhile (a running one answers checkout_in_progress); (2) ask payments, refund captures (keys
    derived from the order, so a retried cancel refunds once); (3) return the stock and record the
    cancellation. A charge whose outcome is unknown refuses the cancel for now (transient 409): the
    card may be charged, and the refund needs the answer."""
    with transaction.atomic(durable=True):
        order = Order.objects.select_for_update().filter(pk=order_id, user_id=user_id).first()
        if order is None:
            raise NotFound(f"no order {order_id}", code="order_not_found")
        if order.status == Order.CANCELLED:
            return order
        if order.status == Order.FAILED:
            raise Conflict(f"order {order_id} failed; there is nothing to cancel", code="order_failed")
        saga = CheckoutSaga.objects.select_for_update().filter(pk=order_id).first()
        if saga is not None and saga.step in CheckoutSaga.ACTIVE_STEPS:
            if saga.updated_at > timezone.now() - IN_PROGRESS_WINDOW:  # its lease: a runner drives it
                raise CheckoutInProgress("a checkout of this order is in progress; retry shortly")
            saga.save(update_fields=["updated_at"])  # our lease while we cancel
    known = payments.payments_list_by_order(order_id=order_id)
    if any(p.status == payments.PENDING for p in known):
        _saga_pause(order_id=order_id)
        raise PaymentOutcomeUnknown("a charge of this order awaits the processor's answer; retry shortly",
                                    retry_after=5)
    refunded = 0
    for payment in known:
        if payment.status == payments.CAPTURED and payment.refunded_minor < payment.captured_minor:
            refund = payments.payment_refund(payment_id=payment.id, amount=None,
                                             idempotency_key=cancel_refund_key(order_id=order_id,
                                                                               payment_id=payment.id))
            refunded += refund.amount_minor
    catalog.stock_return(order_id=order_id)
    with transaction.atomic(durable=True):
        order = Order.objects.select_for_update().get(pk=order_id)
        if order.status == Order.CANCELLED:
            return order
        CheckoutSaga.objects.filter(pk=order_id).update(step=CheckoutSaga.COMPENSATED, card_token="",
                                                        failure_reason="cancelled",
                                                        failure_message="cancelled by the customer",
                                                        updated_at=timezone.now())
        order.status = Order.CANCELLED
        order.save(update_fields=["status", "updated_at"])
        outbox_add(event=OrderCancelled(order_id=order.id, user_id=order.user_id, refunded_minor=refunded,
                                        currency=order.currency))
    return order

