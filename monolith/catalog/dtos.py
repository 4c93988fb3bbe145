"""The catalog's frozen DTOs: what interface.py hands other contexts, built from this process's
models (local.py) or from the catalog service's answers (remote.py)."""

from __future__ import annotations

import dataclasses
import uuid

from monolith.catalog.services import StockLine
from monolith.kernel.money import Money

__all__ = ["ProductDTO", "ReservationDTO", "StockDTO", "StockLine"]


@dataclasses.dataclass(frozen=True, slots=True)
class ProductDTO:
    id: uuid.UUID
    sku: str
    name: str
    price_minor: int
    currency: str
    active: bool
    available: int

    @property
    def price(self) -> Money:
        return Money(self.price_minor, self.currency)


@dataclasses.dataclass(frozen=True, slots=True)
class StockDTO:
    product_id: uuid.UUID
    on_hand: int
    reserved: int
    available: int


@dataclasses.dataclass(frozen=True, slots=True)
class ReservationDTO:
    id: uuid.UUID
    order_id: uuid.UUID
    state: str  # "reserved" | "released" | "committed"
    lines: tuple[StockLine, ...]
