"""MONOLITH_EVENTS -> CATALOG_EVENTS: the catalog's product snapshots the monolith consumes (message pacts).

While both stores may write products (a canary of /api/v1/products), each write on the catalog
service reaches the monolith as ``catalog.ProductSynced``. Each message is decoded and handed to the
real consumer path (``strangler.django.outbox.bus.dispatch``, which runs the catalog's snapshot
consumer, monolith/catalog/handlers.py) in a test database holding what the monolith would hold;
then the monolith's copy is checked. The whole row is the contract (the merge checks every field
of the spec's row), by type; the revision decides which copy wins, so its type is contract too.
"""

from __future__ import annotations

import json
import uuid

import pytest
from pact import match

from contracts.consumers.shapes import a_currency, a_time, an_id, example_id
from contracts.participants import CATALOG_EVENTS, MONOLITH_EVENTS
from monolith.catalog import interface as catalog
from monolith.catalog.extraction import SPEC
from strangler.django.extraction.importing import sync_snapshot_apply
from strangler.django.outbox import bus

pytestmark = pytest.mark.django_db

JSON = "application/json"
CREATED, REPRICED = example_id("catalog-events:created"), example_id("catalog-events:repriced")
ORIGIN = match.regex("catalog-service", regex=r"^(monolith|catalog-service)$")


@pytest.fixture
def pact(pact_between):
    return pact_between(MONOLITH_EVENTS, CATALOG_EVENTS)


def _row(product_id: str, *, sku: str, price_minor: int, revision: int) -> dict:
    """The spec's row of a product (monolith.catalog.extraction.FIELDS) as a snapshot carries it."""
    return {"id": an_id(product_id), "sku": match.str(sku), "name": match.str("Contract mug"),
            "description": match.str("A mug the contracts sell"), "price_minor": match.int(price_minor),
            "currency": a_currency(), "active": match.bool(True), "created_at": a_time(),
            "revision": match.int(revision)}


def _synced(pact, description: str, state: str, product_id: str, *, sku: str, price_minor: int, revision: int):
    envelope = {"type": "catalog.ProductSynced", "event_id": an_id(example_id(f"event:{description}")),
                "payload": {"product": _row(product_id, sku=sku, price_minor=price_minor, revision=revision),
                            "origin": ORIGIN}}
    pact.upon_receiving(description, "Async").given(state, sku=sku).with_body(envelope, content_type=JSON)


def _dispatch(body: str | bytes | None, metadata: dict) -> None:
    assert body is not None, "the message has no body"
    assert bus.dispatch(json.loads(body)) >= 1, "no consumer ran"


def test_a_product_created_on_the_service_appears_in_the_monolith(pact):
    _synced(pact, "a snapshot of a new product", "a product priced 12.50 EUR is added to the catalog", CREATED,
            sku="contract-mug-new", price_minor=1250, revision=1)
    pact.verify(_dispatch, "Async")
    copy = catalog.product_get(product_id=uuid.UUID(CREATED))
    assert (copy.sku, copy.price.amount_minor, copy.currency, copy.active) == ("contract-mug-new", 1250, "EUR", True)


def test_a_repriced_product_replaces_the_monolith_s_older_copy(pact):
    _synced(pact, "a snapshot of a repriced product", "a product priced 12.50 EUR is repriced to 15.00 EUR", REPRICED,
            sku="contract-mug-repriced", price_minor=1500, revision=2)
    # The monolith holds the product as first created (revision 1), as the first snapshot left it.
    held = {"id": REPRICED, "sku": "contract-mug-repriced", "name": "Contract mug", "description": "",
            "price_minor": 1250, "currency": "EUR", "active": True, "created_at": "2026-01-02T03:04:05+00:00",
            "revision": 1}
    assert sync_snapshot_apply(spec=SPEC, snapshot={SPEC.snapshot_row: held, "origin": "catalog-service"})
    pact.verify(_dispatch, "Async")
    assert catalog.product_get(product_id=uuid.UUID(REPRICED)).price.amount_minor == 1500
