"""Event consumers of notifications. They run in the worker (kernel.dispatch_event), after the
publishing transaction committed, so a failing email can never fail a checkout.

Consumer names are stable: the kernel inbox dedupes on (event_id, consumer).
"""

from __future__ import annotations

import logging
import uuid
from typing import Any

from monolith.kernel.bus import subscribe
from monolith.notifications import services
from monolith.orders.events import OrderConfirmed
from monolith.payments.events import PaymentFailed

logger = logging.getLogger(__name__)

ORDER_CONFIRMED_CONSUMER = "notifications.order_confirmed_email"
PAYMENT_FAILED_CONSUMER = "notifications.payment_failed_email"


@subscribe(OrderConfirmed.type_name, consumer=ORDER_CONFIRMED_CONSUMER)
def on_order_confirmed(envelope: dict[str, Any]) -> None:
    payload = envelope["payload"]
    try:
        args = {
            "event_id": uuid.UUID(envelope["event_id"]),
            "user_id": uuid.UUID(payload["user_id"]),
            "order_id": uuid.UUID(payload["order_id"]),
            "total_minor": int(payload["total_minor"]),
            "currency": str(payload["currency"]),
        }
    except (KeyError, TypeError, ValueError):
        # Retrying a malformed event cannot help; drop it loudly instead of looping forever.
        logger.error("malformed %s event %s: %r", OrderConfirmed.type_name, envelope.get("event_id"), payload)
        return
    services.notification_order_confirmed(**args)


@subscribe(PaymentFailed.type_name, consumer=PAYMENT_FAILED_CONSUMER)
def on_payment_failed(envelope: dict[str, Any]) -> None:
    payload = envelope["payload"]
    try:
        args = {
            "event_id": uuid.UUID(envelope["event_id"]),
            "user_id": uuid.UUID(payload["user_id"]),
            "order_id": uuid.UUID(payload["order_id"]),
            "amount_minor": int(payload["amount_minor"]),
            "currency": str(payload["currency"]),
            "reason": str(payload.get("reason", "")),
        }
    except (KeyError, TypeError, ValueError):
        logger.error("malformed %s event %s: %r", PaymentFailed.type_name, envelope.get("event_id"), payload)
        return
    services.notification_payment_failed(**args)
