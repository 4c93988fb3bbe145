"""The messages the catalog publishes (catalog-events), by the pact's description: each the outbox
row its provider state's real write produced (contracts/providers/outbox_messages.py), found by the
sku the state names (product ids are minted by the write)."""

from __future__ import annotations

from typing import Any

from contracts.providers.outbox_messages import Producer, outbox_producer


def _sku(payload: dict[str, Any]) -> object:
    """The sku of the row the snapshot carries, under whichever key: the pact, not this lookup,
    says where it must be, so a renamed key fails verification naming it."""
    rows = [value for value in payload.values() if isinstance(value, dict) and "sku" in value]
    return rows[0]["sku"] if len(rows) == 1 else None


def message_producers() -> dict[str, Producer]:
    """Message descriptions of the event pacts -> the event each one is."""
    synced = outbox_producer("catalog.ProductSynced", param="sku", subject=_sku)
    return {"a snapshot of a new product": synced, "a snapshot of a repriced product": synced}
