"""Product snapshots in the sync format (catalog.ProductSynced), for the sync tests of the monolith
and of the catalog service."""

from __future__ import annotations

import uuid

CREATED = "2026-01-02T03:04:05.123456+00:00"
EVENT = "catalog.ProductSynced"


def product_row(sku: str = "mug", **overrides) -> dict:
    """A product as the kit snapshots it (monolith.catalog.extraction.FIELDS); a fresh id each call."""
    row = {"id": str(uuid.uuid4()), "sku": sku, "name": sku.title(), "description": "", "price_minor": 1250,
           "currency": "EUR", "active": True, "created_at": CREATED, "revision": 1}
    return row | overrides


def product_envelope(origin: str, product: dict) -> dict:
    """The wire form of a ProductSynced event ``origin`` published about ``product``."""
    return {"type": EVENT, "event_id": str(uuid.uuid4()), "occurred_at": CREATED, "version": 1,
            "payload": {"product": product, "origin": origin}}
