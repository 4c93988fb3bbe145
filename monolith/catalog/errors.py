"""Refusals of the catalog that callers branch on; re-exported by interface.py."""

from __future__ import annotations

import uuid

from strangler.django.errors import Conflict, NotFound
from strangler.django.remote_client import ServiceUnavailable

HANDOVER_RETRY_AFTER = 1  # seconds: a handover takes about that long per thousand reservations


class ProductNotFound(NotFound):
    code = "product_not_found"


class InsufficientStock(Conflict):
    code = "insufficient_stock"

    def __init__(self, *, product_id: uuid.UUID, sku: str, requested: int, available: int) -> None:
        super().__init__(
            f"not enough stock for {sku}: {requested} requested, {available} available",
            fields={"lines": [f"insufficient stock for product {product_id} ({sku})"]},
        )
        self.product_id = product_id
        self.sku = sku
        self.requested = requested
        self.available = available

    @classmethod
    def answered(cls, message: str, *, fields: dict[str, list[str]]) -> InsufficientStock:
        """The catalog service's refusal, as this process would have raised it (remote.py): its
        message and fields; the product's figures stay on the service."""
        refusal = cls.__new__(cls)
        Conflict.__init__(refusal, message, fields=fields)
        refusal.product_id, refusal.sku, refusal.requested, refusal.available = None, "", 0, 0
        return refusal


class CatalogUnavailable(ServiceUnavailable):
    """The catalog cannot take this call now (the service unreachable, or the stock handing over):
    the saga keeps its state and retries with the same order."""

    code = "catalog_unavailable"


class StockElsewhere(CatalogUnavailable):
    """This side does not hold the stock: it is fenced for a handover, or another side owns it
    (README: "No oversell, ever"). 503 with Retry-After: the caller retries and reaches the owner."""

    code = "stock_elsewhere"

    def __init__(self, message: str) -> None:
        super().__init__(message, retry_after=HANDOVER_RETRY_AFTER)
