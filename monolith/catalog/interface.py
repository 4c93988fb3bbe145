"""What other contexts may use from the catalog: plain functions and frozen DTOs, never models.

Reads and the checkout saga's stock steps are served by this process's code (``local``), by the
extracted catalog service over HTTP (``remote``), or by whichever side holds the stock (``owner``),
as ``switch`` decides from ``CATALOG_IMPL``, so callers never know which. Both raise the same
InsufficientStock and ProductNotFound, and CatalogUnavailable (503, with retry_after) when the
service cannot be reached or the stock is being handed over: the saga keeps its state and retries
with the same order, whose steps run once each. Creating products and setting stock stay local
(the seed and the back office write this side's tables; setting stock needs this side to own it).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence

from monolith.catalog import local, switch
from monolith.catalog.dtos import ProductDTO, ReservationDTO, StockDTO, StockLine
from monolith.catalog.errors import CatalogUnavailable, InsufficientStock, ProductNotFound
from monolith.catalog.remote import catalog_client
from monolith.kernel.money import Money

__all__ = [
    "CatalogUnavailable", "InsufficientStock", "ProductDTO", "ProductNotFound", "ReservationDTO", "StockDTO",
    "StockLine", "product_create", "product_get", "product_get_by_sku", "products_get_many", "stock_commit",
    "stock_get", "stock_release", "stock_reserve", "stock_return", "stock_set",
]


def _remote() -> bool:
    return switch.catalog_impl() == switch.REMOTE


def product_get(*, product_id: uuid.UUID) -> ProductDTO:
    """Raises ProductNotFound."""
    if _remote():
        return catalog_client().product_get(product_id=product_id)
    return local.product_get(product_id=product_id)


def product_get_by_sku(*, sku: str) -> ProductDTO | None:
    return local.product_get_by_sku(sku=sku)


def products_get_many(*, product_ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, ProductDTO]:
    """Missing ids are absent from the result; the caller decides whether that is an error."""
    if _remote():
        return catalog_client().products_get_many(product_ids=product_ids)
    return local.products_get_many(product_ids=product_ids)


def product_create(*, sku: str, name: str, price: Money, description: str = "", active: bool = True) -> ProductDTO:
    return local.product_create(sku=sku, name=name, price=price, description=description, active=active)


def stock_get(*, product_id: uuid.UUID) -> StockDTO:
    """Raises ProductNotFound."""
    if _remote():
        return catalog_client().stock_get(product_id=product_id)
    return local.stock_get(product_id=product_id)


def stock_set(*, product_id: uuid.UUID, on_hand: int) -> StockDTO:
    return local.stock_set(product_id=product_id, on_hand=on_hand)


def stock_reserve(*, order_id: uuid.UUID, lines: Sequence[StockLine]) -> ReservationDTO:
    """All lines or none; raises InsufficientStock naming the product. Idempotent per order_id."""
    if _remote():
        return catalog_client().stock_reserve(order_id=order_id, lines=lines)
    return local.stock_reserve(order_id=order_id, lines=lines)


def stock_release(*, order_id: uuid.UUID) -> ReservationDTO | None:
    """Idempotent; None when the order never reserved anything."""
    if _remote():
        return catalog_client().stock_release(order_id=order_id)
    return local.stock_release(order_id=order_id)


def stock_return(*, order_id: uuid.UUID) -> ReservationDTO | None:
    """Reserved units released, sold ones back on hand (a cancelled order). Idempotent."""
    if _remote():
        return catalog_client().stock_return(order_id=order_id)
    return local.stock_return(order_id=order_id)


def stock_commit(*, order_id: uuid.UUID) -> ReservationDTO:
    if _remote():
        return catalog_client().stock_commit(order_id=order_id)
    return local.stock_commit(order_id=order_id)
