"""Reads of the catalog."""

from __future__ import annotations

import uuid
from collections.abc import Iterable

from django.db.models import QuerySet

from monolith.catalog.errors import ProductNotFound
from monolith.catalog.models import Product, StockLevel, StockReservation


def product_list(*, active_only: bool = True) -> QuerySet[Product]:
    products = Product.objects.select_related("stock").order_by("sku")
    return products.filter(active=True) if active_only else products


def product_get(*, product_id: uuid.UUID) -> Product:
    product = Product.objects.select_related("stock").filter(pk=product_id).first()
    if product is None:
        raise ProductNotFound(f"no product {product_id}")
    return product


def product_get_by_sku(*, sku: str) -> Product | None:
    return Product.objects.select_related("stock").filter(sku=sku).first()


def products_get_many(*, product_ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, Product]:
    """Products by id; missing ids are simply absent from the result."""
    return {p.id: p for p in Product.objects.select_related("stock").filter(pk__in=set(product_ids))}


def stock_get(*, product_id: uuid.UUID) -> StockLevel:
    product = product_get(product_id=product_id)
    stock = getattr(product, "stock", None)
    return stock if stock is not None else StockLevel(product=product, on_hand=0, reserved=0)


def reservation_get(*, order_id: uuid.UUID) -> StockReservation | None:
    return StockReservation.objects.filter(order_id=order_id).first()
