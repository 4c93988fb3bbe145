"""The catalog served by this process's code and tables: what interface.py calls when the catalog
has not moved (``CATALOG_IMPL=local``), and always for creating products and setting stock."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence

from monolith.catalog import selectors, services
from monolith.catalog.dtos import ProductDTO, ReservationDTO, StockDTO, StockLine
from monolith.catalog.models import Product, StockReservation
from monolith.kernel.money import Money


def product_dto(product: Product) -> ProductDTO:
    stock = getattr(product, "stock", None)
    return ProductDTO(
        id=product.id, sku=product.sku, name=product.name, price_minor=product.price_minor,
        currency=product.currency, active=product.active, available=stock.available if stock else 0,
    )


def reservation_dto(reservation: StockReservation) -> ReservationDTO:
    lines = tuple(StockLine(product_id=uuid.UUID(x["product_id"]), quantity=x["quantity"]) for x in reservation.lines)
    return ReservationDTO(id=reservation.id, order_id=reservation.order_id, state=reservation.state, lines=lines)


def product_get(*, product_id: uuid.UUID) -> ProductDTO:
    return product_dto(selectors.product_get(product_id=product_id))


def product_get_by_sku(*, sku: str) -> ProductDTO | None:
    product = selectors.product_get_by_sku(sku=sku)
    return product_dto(product) if product else None


def products_get_many(*, product_ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, ProductDTO]:
    return {pid: product_dto(p) for pid, p in selectors.products_get_many(product_ids=product_ids).items()}


def product_create(*, sku: str, name: str, price: Money, description: str = "", active: bool = True) -> ProductDTO:
    product = services.product_create(sku=sku, name=name, price=price, description=description, active=active)
    return product_get(product_id=product.id)


def stock_get(*, product_id: uuid.UUID) -> StockDTO:
    stock = selectors.stock_get(product_id=product_id)
    return StockDTO(product_id=product_id, on_hand=stock.on_hand, reserved=stock.reserved, available=stock.available)


def stock_set(*, product_id: uuid.UUID, on_hand: int) -> StockDTO:
    stock = services.stock_set(product_id=product_id, on_hand=on_hand)
    return StockDTO(product_id=product_id, on_hand=stock.on_hand, reserved=stock.reserved, available=stock.available)


def stock_reserve(*, order_id: uuid.UUID, lines: Sequence[StockLine]) -> ReservationDTO:
    return reservation_dto(services.stock_reserve(order_id=order_id, lines=lines))


def stock_release(*, order_id: uuid.UUID) -> ReservationDTO | None:
    reservation = services.stock_release(order_id=order_id)
    return reservation_dto(reservation) if reservation else None


def stock_return(*, order_id: uuid.UUID) -> ReservationDTO | None:
    reservation = services.stock_return(order_id=order_id)
    return reservation_dto(reservation) if reservation else None


def stock_commit(*, order_id: uuid.UUID) -> ReservationDTO:
    return reservation_dto(services.stock_commit(order_id=order_id))
