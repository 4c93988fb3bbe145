"""Event consumers of notifications. They run in the worker (kernel.dispatch_event), after the
publishing transaction committed, so a failing email can never fail a checkout.

Sending mail is a call out of the process (SMTP): the consumers are subscribed with
``calls_out=True`` so no transaction is held open while the mail server answers; a send is
claimed per event id before it goes out (notification_send), so a redelivery, even one handled
while the first delivery is still sending, sends nothing twice.

Consumer names are stable: the kit's inbox dedupes on (event_id, consumer).
"""

from __future__ import annotations

import uuid
from typing import Any

from monolith.notifications import services
from monolith.orders.events import OrderConfirmed
from monolith.payments.events import PaymentFailed
from strangler.django.outbox.bus import Unprocessable, subscribe

ORDER_CONFIRMED_CONSUMER = "notifications.order_confirmed_email"
PAYMENT_FAILED_CONSUMER = "notifications.payment_failed_email"


@subscribe(OrderConfirmed.type_name, consumer=ORDER_CONFIRMED_CONSUMER, calls_out=True)
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
    except (KeyError, TypeError, ValueError) as exc:
        # Retrying a malformed event cannot help: a dead letter at once, for a person.
        raise Unprocessable(f"malformed {OrderConfirmed.type_name} payload: {exc!r}") from exc
    services.notification_order_confirmed(**args)


@subscribe(PaymentFailed.type_name, consumer=PAYMENT_FAILED_CONSUMER, calls_out=True)
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
    except (KeyError, TypeError, ValueError) as exc:
        raise Unprocessable(f"malformed {PaymentFailed.type_name} payload: {exc!r}") from exc
    services.notification_payment_failed(**args)
