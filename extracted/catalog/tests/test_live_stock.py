"""Concurrent reserves against the service live on PostgreSQL (gunicorn threads, row locks taken
in product order by monolith/catalog/services.py): the last units are never oversold, and one key
sent many times at once reserves once. Always PostgreSQL: without it these tests fail."""

from __future__ import annotations

import threading
import uuid
from collections import Counter

import pytest
import requests

from strangler.proxy.credentials import HEADER, credential_mint

pytestmark = pytest.mark.integration

ON_HAND = 3
SHOPPERS = 12
RESERVE = "/internal/v1/catalog/reservations/"


def _product(server, sku: str, on_hand: int) -> str:
    return str(server.python(
        "import json; from monolith.catalog import interface as c; from monolith.kernel.money import Money; "
        f"p = c.product_create(sku={sku!r}, name={sku!r}, price=Money(900, 'EUR')); "
        f"c.stock_set(product_id=p.id, on_hand={on_hand}); print(json.dumps(str(p.id)))"))


def _post_together(server, bodies_and_keys: list[tuple[dict, str]]) -> list[requests.Response]:
    """Sends every request at once (a barrier), each from its own thread and connection."""
    barrier = threading.Barrier(len(bodies_and_keys))
    answers: list[requests.Response | BaseException] = [None] * len(bodies_and_keys)  # type: ignore[list-item]

    def shopper(i: int, body: dict, key: str) -> None:
        headers = {HEADER: credential_mint(server.secret, "monolith", audience="catalog-service"),
                   "Idempotency-Key": key}
        barrier.wait()
        try:
            answers[i] = requests.post(server.url + RESERVE, json=body, headers=headers, timeout=30)
        except BaseException as exc:  # noqa: BLE001 - reported below with the others
            answers[i] = exc

    threads = [threading.Thread(target=shopper, args=(i, b, k)) for i, (b, k) in enumerate(bodies_and_keys)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    errors = [a for a in answers if not isinstance(a, requests.Response)]
    assert not errors, errors
    return answers  # type: ignore[return-value]


def _stock(server, product_id: str) -> dict:
    headers = {HEADER: credential_mint(server.secret, "monolith", audience="catalog-service")}
    return requests.get(f"{server.url}/internal/v1/catalog/products/{product_id}/stock/", headers=headers,
                        timeout=30).json()


def test_concurrent_reserves_of_the_last_units_never_oversell(live_service_pg):
    lamp = _product(live_service_pg, "lamp", ON_HAND)
    answers = _post_together(live_service_pg, [
        ({"order_id": str(uuid.uuid4()), "lines": [{"product_id": lamp, "quantity": 1}]}, f"k-{i}")
        for i in range(SHOPPERS)
    ])
    outcomes = Counter((a.status_code, a.json().get("state") or a.json()["error"]["code"]) for a in answers)
    assert outcomes == {(200, "reserved"): ON_HAND, (409, "insufficient_stock"): SHOPPERS - ON_HAND}
    assert _stock(live_service_pg, lamp) == {"product_id": lamp, "on_hand": ON_HAND, "reserved": ON_HAND,
                                             "available": 0}


def test_one_key_sent_many_times_at_once_reserves_once(live_service_pg):
    vase = _product(live_service_pg, "vase", ON_HAND)
    body = {"order_id": str(uuid.uuid4()), "lines": [{"product_id": vase, "quantity": 2}]}
    answers = _post_together(live_service_pg, [(body, "the-same-key")] * SHOPPERS)
    reserved = [a.json() for a in answers if a.status_code == 200]
    in_flight = [a for a in answers if a.status_code == 409]
    assert reserved and len(reserved) + len(in_flight) == SHOPPERS, [a.text for a in answers]
    assert all(r == reserved[0] and r["state"] == "reserved" for r in reserved)
    assert all(a.json()["error"]["code"] == "request_in_progress" for a in in_flight)
    assert _stock(live_service_pg, vase)["reserved"] == 2
