"""Provider states of the catalog, in the consumers' words (contracts/consumers/catalog_shapes.py),
seeded through the catalog's own services (imported once Django is configured:
contracts/providers/provider_states.py).

Request paths carry product ids, and ``product_create`` mints its own: the one write that takes a
given id is the sync merge (the kit's ``sync_snapshot_apply`` on the catalog's spec), so such a
product is seeded as the snapshot the other store would have sent of it. Its stock, reservations
and sales then go through the stock services the checkout saga uses. The events' states are real
writes (``product_create``, ``product_update``), which put ``catalog.ProductSynced`` in the outbox,
where messages.py reads it by the sku the state names.
"""

from __future__ import annotations

import uuid
from typing import Any

from django.utils import timezone

from contracts.providers.provider_states import Handler, StateError, StateRun, closing, uuid_param
from monolith.catalog.errors import ProductNotFound
from monolith.catalog.extraction import SPEC
from monolith.catalog.selectors import product_get, reservation_get
from monolith.catalog.services import (
    StockLine,
    product_create,
    product_update,
    stock_commit,
    stock_reserve,
    stock_set,
)
from monolith.kernel.money import Money
from strangler.django.extraction.importing import sync_snapshot_apply

RESERVED_QUANTITY = 2  # what the states "... 2 units of a product" say
ON_HAND = 5


def product_seed(*, product_id: uuid.UUID, price_minor: int, currency: str, on_hand: int) -> None:
    """An active product under ``product_id`` with ``on_hand`` units and nothing reserved."""
    row = {"id": str(product_id), "sku": f"sku-{product_id.hex[:12]}", "name": "Contract mug",
           "description": "A mug the contracts sell", "price_minor": price_minor, "currency": currency,
           "active": True, "created_at": timezone.now().isoformat(), "revision": 1}
    if not sync_snapshot_apply(spec=SPEC, snapshot={SPEC.snapshot_row: row}):
        raise StateError(f"product {product_id} already exists; interactions must not share product ids")
    stock_set(product_id=product_id, on_hand=on_hand)


def _in_stock(parameters: dict[str, Any]) -> None:
    product_seed(product_id=uuid_param(parameters, "product_id"), price_minor=int(parameters["price_minor"]),
                 currency=str(parameters.get("currency", "EUR")), on_hand=int(parameters["on_hand"]))


def _no_product(parameters: dict[str, Any]) -> None:
    product_id = uuid_param(parameters, "product_id")
    try:
        product_get(product_id=product_id)
    except ProductNotFound:
        return
    raise StateError(f"product {product_id} exists, but the state says it does not")


def _reserved(parameters: dict[str, Any]) -> uuid.UUID:
    """The order's checkout reserved RESERVED_QUANTITY units of a product of its own."""
    order_id, product_id = uuid_param(parameters, "order_id"), uuid_param(parameters, "product_id")
    product_seed(product_id=product_id, price_minor=1250, currency="EUR", on_hand=ON_HAND)
    stock_reserve(order_id=order_id, lines=[StockLine(product_id=product_id, quantity=RESERVED_QUANTITY)])
    return order_id


def _sold(parameters: dict[str, Any]) -> None:
    stock_commit(order_id=_reserved(parameters))


def _never_reserved(parameters: dict[str, Any]) -> None:
    order_id = uuid_param(parameters, "order_id")
    if reservation_get(order_id=order_id) is not None:
        raise StateError(f"order {order_id} holds a reservation, but the state says it never reserved")


def _added(parameters: dict[str, Any]) -> uuid.UUID:
    product = product_create(sku=str(parameters["sku"]), name="Contract mug", price=Money(1250, "EUR"),
                             description="A mug the contracts sell")
    return product.id


def _repriced(parameters: dict[str, Any]) -> None:
    product_update(product_id=_added(parameters), price=Money(1500, "EUR"))


def state_handlers(run: StateRun) -> dict[str, Handler]:
    """Every provider state the catalog knows (orders' remote client, the storefront, events). No state
    needs the run's shopper: the products API is public and the internal one has no users."""
    return closing({
        "a product priced 12.50 EUR has 5 units in stock": _in_stock,
        "a product has only 1 unit left": _in_stock,
        "no product exists with this id": _no_product,
        "an order holds a reservation of 2 units of a product": _reserved,
        "an order bought 2 units of a product": _sold,
        "an order never reserved any stock": _never_reserved,
        # events
        "a product priced 12.50 EUR is added to the catalog": _added,
        "a product priced 12.50 EUR is repriced to 15.00 EUR": _repriced,
    })
