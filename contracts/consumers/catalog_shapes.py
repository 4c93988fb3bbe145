"""The shapes consumers expect from the catalog, as Pact matchers (the conventions of shapes.py:
names and types are the contract, ids and figures examples; a reservation's ``state`` is exact,
since the saga branches on it), and the provider states both catalog pacts name.

The states are in the consumers' words; their parameters carry the ids the request paths name
(contracts/providers/catalog/states.py seeds them through the catalog's services).
"""

from __future__ import annotations

from typing import Any

from pact import match

from contracts.consumers.shapes import a_currency, an_id, example_id

PRICE_MINOR, ON_HAND = 1250, 5
IN_STOCK = "a product priced 12.50 EUR has 5 units in stock"
LAST_UNIT = "a product has only 1 unit left"
NO_PRODUCT = "no product exists with this id"
RESERVED = "an order holds a reservation of 2 units of a product"
SOLD = "an order bought 2 units of a product"
NEVER_RESERVED = "an order never reserved any stock"
RESERVED_QUANTITY = 2


def in_stock(product_id: str, *, on_hand: int = ON_HAND) -> dict[str, Any]:
    """The parameters of IN_STOCK / LAST_UNIT for one product."""
    return {"product_id": product_id, "price_minor": PRICE_MINOR, "currency": "EUR", "on_hand": on_hand}


def product(product_id: str, *, available: int = ON_HAND, description: bool = False) -> dict[str, Any]:
    """A product as the catalog's reads answer it (internal and public alike); ``description``
    only where the reader shows it (the storefront)."""
    shape = {"id": an_id(product_id), "sku": match.str("sku-0123456789ab"), "name": match.str("Contract mug"),
             "price_minor": match.int(PRICE_MINOR), "currency": a_currency(), "active": match.bool(True),
             "available": match.int(available)}
    return shape | ({"description": match.str("A mug the contracts sell")} if description else {})


def reservation(*, order_id: str, product_id: str, state: str,
                quantity: int = RESERVED_QUANTITY) -> dict[str, Any]:
    """A reservation as each stock step answers it."""
    return {"id": an_id(example_id(f"reservation:{order_id}")), "order_id": an_id(order_id), "state": state,
            "lines": match.each_like({"product_id": an_id(product_id), "quantity": match.int(quantity)}, min=1)}
