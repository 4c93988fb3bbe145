"""What other contexts may use from the catalog: plain functions and frozen DTOs, never models."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Iterable, Sequence

from monolith.catalog import selectors, services
from monolith.catalog.errors import InsufficientStock, ProductNotFound
from monolith.catalog.models import Product, StockReservation
from monolith.catalog.services import StockLine
from monolith.kernel.money import Money

__all__ = [
    "InsufficientStock", "ProductDTO", "ProductNotFound", "ReservationDTO", "StockDTO", "StockLine",
    "product_create", "product_get", "product_get_by_sku", "products_get_many", "stock_commit",
    "stock_get", "stock_release", "stock_reserve", "stock_set",
]


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


def _product_dto(product: Product) -> ProductDTO:
    stock = getattr(product, "stock", None)
    return ProductDTO(
        id=product.id, sku=product.sku, name=product.name, price_minor=product.price_minor,
        currency=product.currency, active=product.active, available=stock.available if stock else 0,
    )


def _reservation_dto(reservation: StockReservation) -> ReservationDTO:
    lines = tuple(StockLine(product_id=uuid.UUID(x["product_id"]), quantity=x["quantity"]) for x in reservation.lines)
    return ReservationDTO(id=reservation.id, order_id=reservation.order_id, state=reservation.state, lines=lines)


def product_get(*, product_id: uuid.UUID) -> ProductDTO:
    """Raises ProductNotFound."""
    return _product_dto(selectors.product_get(product_id=product_id))


def product_get_by_sku(*, sku: str) -> ProductDTO | None:
    product = selectors.product_get_by_sku(sku=sku)
    return _product_dto(product) if product else None


def products_get_many(*, product_ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, ProductDTO]:
    """Missing ids are absent from the result; the caller decides whether that is an error."""
    return {pid: _product_dto(p) for pid, p in selectors.products_get_many(product_ids=product_ids).items()}


def product_create(*, sku: str, name: str, price: Money, description: str = "", active: bool = True) -> ProductDTO:
    product = services.product_create(sku=sku, name=name, price=price, description=description, active=active)
    return product_get(product_id=product.id)


def stock_get(*, product_id: uuid.UUID) -> StockDTO:
    """Raises ProductNotFound."""
    stock = selectors.stock_get(product_id=product_id)
    return StockDTO(product_id=product_id, on_hand=stock.on_hand, reserved=stock.reserved, available=stock.available)


def stock_set(*, product_id: uuid.UUID, on_hand: int) -> StockDTO:
    stock = services.stock_set(product_id=product_id, on_hand=on_hand)
    return StockDTO(product_id=product_id, on_hand=stock.on_hand, reserved=stock.reserved, available=stock.available)


def stock_reserve(*, order_id: uuid.UUID, lines: Sequence[StockLine]) -> ReservationDTO:
    """All lines or none; raises InsufficientStock naming the product. Idempotent per order_id."""
    return _reservation_dto(services.stock_reserve(order_id=order_id, lines=lines))


def stock_release(*, order_id: uuid.UUID) -> ReservationDTO | None:
    """Idempotent; None when the order never reserved anything."""
    reservation = services.stock_release(order_id=order_id)
    return _reservation_dto(reservation) if reservation else None


def stock_return(*, order_id: uuid.UUID) -> ReservationDTO | None:
    """Reserved units released, sold ones back on hand (a cancelled order). Idempotent."""
    reservation = services.stock_return(order_id=order_id)
    return _reservation_dto(reservation) if reservation else None


def stock_commit(*, order_id: uuid.UUID) -> ReservationDTO:
    return _reservation_dto(services.stock_commit(order_id=order_id))
