"""The storefront's products client: what end users' apps read, through the strangler proxy, at
``/api/v1/products/`` (public: no token needed). Whether the monolith or the catalog service
answers, it cannot tell."""

from __future__ import annotations

import dataclasses
import uuid
from typing import Any

from contracts.clients.storefront import StorefrontClient, as_int

__all__ = ["Product", "StorefrontProductsClient"]


@dataclasses.dataclass(frozen=True, slots=True)
class Product:
    id: uuid.UUID
    sku: str
    name: str
    description: str
    price_minor: int
    currency: str
    active: bool
    available: int  # units a shopper can still order


class StorefrontProductsClient(StorefrontClient):
    """The shop's product pages. A product that does not exist raises StorefrontError (404,
    ``product_not_found``)."""

    def products_list(self) -> list[Product]:
        return [_product(row) for row in self._call("GET", "/api/v1/products/")]

    def product_get(self, product_id: uuid.UUID) -> Product:
        return _product(self._call("GET", f"/api/v1/products/{product_id}/"))


def _product(row: dict[str, Any]) -> Product:
    if not isinstance(row.get("active"), bool):
        raise TypeError(f"not a boolean: {row.get('active')!r}")
    return Product(id=uuid.UUID(row["id"]), sku=str(row["sku"]), name=str(row["name"]),
                   description=str(row["description"]), price_minor=as_int(row["price_minor"]),
                   currency=str(row["currency"]), active=row["active"], available=as_int(row["available"]))
