"""Event consumers of orders: a settled payment moves the checkout that waits for it.

A checkout stops at ``stock_reserved`` when the charge's outcome is not known yet (payments was
unreachable, the answer was lost, the charge is pending). The payment's own event is the
earliest sign that it settled, so it resumes the saga at once instead of waiting for the sweep;
the resume charges with the same key, which returns the settled payment and never charges again.

Resuming calls out (payments' charge: the processor, or the payments service over HTTP), so these
consumers are subscribed with ``calls_out=True``: the bus runs them with no transaction open, every
saga step commits before the call, and no row lock is held while payments answers. A resume is
idempotent (the same charge key), so running one twice after a crash is harmless.

Consumer names are stable: the kit's inbox dedupes on (event_id, consumer).
"""

from __future__ import annotations

import logging
import uuid
from typing import Any

from monolith.orders.services import order_checkout_resume, order_checkout_waiting_on_payment
from monolith.payments.events import PaymentCaptured, PaymentFailed
from monolith.payments.interface import PaymentsUnavailable
from strangler.django.outbox.bus import subscribe

logger = logging.getLogger(__name__)

PAYMENT_CAPTURED_CONSUMER = "orders.payment_captured"
PAYMENT_FAILED_CONSUMER = "orders.payment_failed"


@subscribe(PaymentCaptured.type_name, consumer=PAYMENT_CAPTURED_CONSUMER, calls_out=True)
def on_payment_captured(envelope: dict[str, Any]) -> None:
    _resume_waiting_checkout(envelope)


@subscribe(PaymentFailed.type_name, consumer=PAYMENT_FAILED_CONSUMER, calls_out=True)
def on_payment_failed(envelope: dict[str, Any]) -> None:
    _resume_waiting_checkout(envelope)


def _resume_waiting_checkout(envelope: dict[str, Any]) -> None:
    try:
        order_id = uuid.UUID(envelope["payload"]["order_id"])
    except (KeyError, TypeError, ValueError, AttributeError):
        # Retrying a malformed event cannot help; drop it loudly instead of looping forever.
        logger.error("malformed %s event %s: %r", envelope.get("type"), envelope.get("event_id"),
                     envelope.get("payload"))
        return
    if not order_checkout_waiting_on_payment(order_id=order_id):
        return  # not an order's checkout, or already past payment: nothing to do
    try:
        order = order_checkout_resume(order_id=order_id)
    except PaymentsUnavailable as exc:
        # The saga stays resumable; the periodic sweep tries again. Retrying the event would only
        # hold up the other consumers of the same delivery.
        logger.warning("checkout of order %s waits for payments: %s", order_id, exc.message)
        return
    logger.info("checkout of order %s resumed by %s: %s", order_id, envelope.get("type"), order.status)
