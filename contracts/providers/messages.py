"""The messages payments publishes, as the verifier asks for them by the pact's description.

The provider state has already run the real write (states.py), which put the event in the
outbox in the same transaction; the message is that outbox row's envelope, byte for byte what
the relay would hand to the broker. Nothing here builds an event by hand.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from django.db import connections
from pact.types import Message

from strangler.django.outbox.models import OutboxMessage

Producer = Callable[[dict[str, Any] | None], Message]


class MessageNotPublished(LookupError):
    """The provider state ran, but no such event is in the outbox."""


def _order_id(metadata: dict[str, Any] | None) -> str:
    """The order the interaction's provider state is about."""
    for state in (metadata or {}).get("providerStates") or []:
        order_id = (state.get("params") or {}).get("order_id")
        if order_id:
            return str(order_id)
    raise MessageNotPublished("the interaction's provider state names no order_id")


def _about_order(envelope: dict[str, Any], order_id: str) -> bool:
    payload = envelope.get("payload") or {}
    subject = payload.get("payment") if isinstance(payload.get("payment"), dict) else payload
    return str(subject.get("order_id")) == order_id


def outbox_latest(event_type: str, order_id: str) -> dict[str, Any]:
    """The newest envelope of ``event_type`` about ``order_id`` in the outbox."""
    try:
        for message in OutboxMessage.objects.filter(event_type=event_type).order_by("-id"):
            if _about_order(message.envelope, order_id):
                return message.envelope
    finally:
        connections.close_all()  # pact-python's thread: give the connection back
    raise MessageNotPublished(f"no {event_type} about order {order_id} in the outbox")


def _producer(event_type: str) -> Producer:
    def produce(metadata: dict[str, Any] | None = None) -> Message:
        envelope = outbox_latest(event_type, _order_id(metadata))
        return Message(contents=json.dumps(envelope).encode(), metadata={"contentType": "application/json"},
                       content_type="application/json")
    return produce


def message_producers() -> dict[str, Producer]:
    """Message descriptions of the event pacts -> the event each one is."""
    return {
        "a payment captured for an order": _producer("payments.PaymentCaptured"),
        "a payment failed for an order": _producer("payments.PaymentFailed"),
        "a snapshot of a partly refunded payment": _producer("payments.PaymentSynced"),
    }
