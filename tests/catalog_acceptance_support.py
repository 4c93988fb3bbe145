"""Catalog cut acceptance helpers: shoppers who compete for scarce products through the proxy
(checkouts and product reads), and the checks that no unit was oversold on either side and that
every order ended consistently with its stock and its payment."""

from __future__ import annotations

import collections
import json
import threading
from typing import Any

from tests.cutover_support import Outcome, Shopper, pg_scalar

# Documented refusals a client gets and does not retry: the product ran out (the order fails,
# its stock released, nothing charged) and a declined card (402).
CHECKOUT_OK = {200, 402, 409}
SCARCE = "insufficient_stock"


class CatalogShopper(Shopper):
    """A patient shopper: reads products (the catalog route) and checks out 1-2 units of a random
    product (the saga: stock on its owner, payment on the payments service), retrying 503s with
    Retry-After and 409 request_in_progress with the same Idempotency-Key."""

    def __init__(self, port: int, email: str, products: list[str], stop: threading.Event, *, seed: int) -> None:
        super().__init__(port, email, products[0], stop, patient=True, seed=seed)
        self.products = products

    def run(self) -> None:
        while not self.stop_event.is_set():
            if self.rng.random() < 0.6:
                self.checkout_scarce()
            else:
                self.browse()
        if self.conn:
            self.conn.close()

    def browse(self) -> None:
        if self.rng.random() < 0.5:
            status, body = self.call("GET", "/api/v1/products/")
            self.record(Outcome("products", "list", status, None if status == 200 else body), {200})
        else:
            product = self.rng.choice(self.products)
            status, body = self.call("GET", f"/api/v1/products/{product}/")
            self.record(Outcome("product", product, status, body), {200})

    def checkout_scarce(self) -> None:
        product, quantity = self.rng.choice(self.products), self.rng.choice((1, 1, 2))
        placed = self.place_order(product, quantity)
        if placed is None:
            return
        order_id, status, body = placed
        outcome = self.record(Outcome("checkout", product, status, body, order_id=order_id), CHECKOUT_OK)
        if status == 409 and (body or {}).get("error", {}).get("code") != SCARCE:
            self.failures.append(f"checkout {order_id}: 409 {body}")  # only running out is a documented 409
        outcome.quantity = quantity  # type: ignore[attr-defined]


def _rows(url: str, sql: str, *params: Any) -> list[tuple]:
    import psycopg

    with psycopg.connect(url) as conn:
        return conn.execute(sql, params).fetchall()


def stock_figures(url: str) -> dict[str, dict[str, int]]:
    """Per product on one side: on_hand, reserved, and the units its reservations hold (reserved)
    and sold (committed)."""
    figures: dict[str, dict[str, int]] = collections.defaultdict(lambda: collections.Counter())
    for product_id, on_hand, reserved in _rows(url, "SELECT product_id, on_hand, reserved FROM catalog_stocklevel"):
        figures[str(product_id)].update({"on_hand": on_hand, "reserved": reserved})
    for lines, state in _rows(url, "SELECT lines, state FROM catalog_stockreservation"):
        for line in lines if isinstance(lines, list) else json.loads(lines):
            figures[str(line["product_id"])][f"held_{state}"] += int(line["quantity"])
    return figures


def verify_no_oversell(urls: dict[str, str], initial: dict[str, int]) -> dict[str, int]:
    """On every side: initial stock = on hand + sold, and reserved = what open reservations hold
    (so reserved + sold never exceeds the stock)."""
    sold = {}
    for side, url in urls.items():
        figures = stock_figures(url)
        for product, stock in initial.items():
            f = figures[product]
            assert f["on_hand"] + f["held_committed"] == stock, (side, product, stock, dict(f))
            assert f["reserved"] == f["held_reserved"] <= f["on_hand"], (side, product, dict(f))
            sold[product] = max(sold.get(product, 0), f["held_committed"])
    return sold


def verify_orders(*, owner_url: str, payments_url: str, crowd: list[CatalogShopper]) -> dict[str, int]:
    """Every checkout the clients were told about: confirmed (200) has its stock sold on the owner
    and one captured payment; refused (402, 409) has its stock released or never taken and no
    captured payment."""
    checkouts = [o for s in crowd for o in s.outcomes if o.kind == "checkout"]
    states = dict(_rows(owner_url, "SELECT order_id::text, state FROM catalog_stockreservation"))
    captured = collections.Counter(str(order_id) for (order_id,) in _rows(
        payments_url, "SELECT order_id FROM payments_payment WHERE status = 'captured'"))
    for o in checkouts:
        if o.status == 200:
            assert states.get(o.order_id) == "committed", (o, states.get(o.order_id))
            assert captured[o.order_id] == 1, (o, captured[o.order_id])
        else:
            assert states.get(o.order_id) in (None, "released"), (o, states.get(o.order_id))
            assert captured[o.order_id] == 0, (o, captured[o.order_id])
    confirmed = sum(o.status == 200 for o in checkouts)
    orders = pg_scalar(owner_url, "SELECT count(*) FROM catalog_stockreservation WHERE state = 'committed'")
    return {"checkouts": len(checkouts), "confirmed": confirmed,
            "out_of_stock": sum(o.status == 409 for o in checkouts),
            "declined": sum(o.status == 402 for o in checkouts), "orders_committed": orders}
