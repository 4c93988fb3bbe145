"""Refusals of the catalog that callers branch on; re-exported by interface.py."""

from __future__ import annotations

import uuid

from strangler.django.errors import Conflict, NotFound


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
