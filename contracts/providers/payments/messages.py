"""The messages payments publishes (payments-events), by the pact's description: each the outbox
row its provider state's real write produced (contracts/providers/outbox_messages.py), found by the
order the state names."""

from __future__ import annotations

from typing import Any

from contracts.providers.outbox_messages import Producer, outbox_producer


def _order_id(payload: dict[str, Any]) -> object:
    """A snapshot nests the payment; the other events carry the order at the top."""
    subject = payload.get("payment") if isinstance(payload.get("payment"), dict) else payload
    return subject.get("order_id")


def message_producers() -> dict[str, Producer]:
    """Message descriptions of the event pacts -> the event each one is."""
    return {
        "a payment captured for an order": outbox_producer("payments.PaymentCaptured", param="order_id",
                                                           subject=_order_id),
        "a payment failed for an order": outbox_producer("payments.PaymentFailed", param="order_id",
                                                         subject=_order_id),
        "a snapshot of a partly refunded payment": outbox_producer("payments.PaymentSynced", param="order_id",
                                                                   subject=_order_id),
    }
