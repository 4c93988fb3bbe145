"""Catalog's products on the kit's extraction engine (strangler.django.extraction): the spec both
sides register in STRANGLER_EXTRACTIONS (the monolith here, the catalog service, which runs this
context, by the same path), so that ``manage.py strangler_backfill catalog --target <service URL>``
copies the monolith's products to the service and ``manage.py strangler_reconcile catalog`` compares
them, and each side merges the other's ``catalog.ProductSynced`` snapshots (sync.py, handlers.py).
First written by ``manage.py strangler_extract``; the hand edits are the ``revision`` column, the
snapshot's name and event, and the row checks the model does not say.

Stock is deliberately not synced: units are counted by their one owner at a time, and move with the
owner at a fenced handover, never by a copy that could land beside a reservation (README: "No
oversell, ever")."""

import functools

from django.conf import settings

from monolith.kernel.money import CURRENCIES, MAX_AMOUNT_MINOR
from strangler.django.extraction.conflicts import ConflictPolicy
from strangler.django.extraction.rows import Invalid, RowShape, check_int
from strangler.django.extraction.spec import ExtractionSpec

MODEL = "catalog.Product"
FIELDS = ("id", "sku", "name", "description", "price_minor", "currency", "active", "created_at", "revision")
ID_FIELD = "id"
REVISION_FIELD = "revision"
# Reconcile's digest: the product without bookkeeping (the revision and the creation time).
COMPARED_FIELDS = ("id", "sku", "name", "description", "price_minor", "currency", "active")
# At the same revision the monolith's version wins (the system of record until the cut), then the digest.
ORIGINS = ("monolith", "catalog-service")
MAX_REVISION = 2**31 - 1


def _currency(value: object) -> str:
    if not isinstance(value, str) or value not in CURRENCIES:
        raise Invalid("must be a currency the shop accepts")
    return value


# What the model does not say but product_create enforces: a known currency, a positive price (a
# checkout always charges), a revision from 1. Rows from the other side are checked against it.
ROWS = RowShape(model=MODEL, fields=FIELDS, overrides={
    "currency": _currency, "price_minor": functools.partial(check_int, low=1, high=MAX_AMOUNT_MINOR),
    "revision": functools.partial(check_int, low=1, high=MAX_REVISION)})


def sync_origin() -> str:
    """Who this process is: the service sets CATALOG_ORIGIN; the monolith leaves it unset."""
    return getattr(settings, "CATALOG_ORIGIN", "monolith")


SPEC = ExtractionSpec(
    context="catalog", model=MODEL, kind="products", fields=FIELDS, compared_fields=COMPARED_FIELDS,
    sync_path="/internal/v1/catalog/sync/", origin=sync_origin, id_field=ID_FIELD, revision_field=REVISION_FIELD,
    policy=ConflictPolicy(revision_field=REVISION_FIELD, compared_fields=COMPARED_FIELDS, origins=ORIGINS),
    target_audience="catalog-service", shape=ROWS, snapshot_row="product", snapshot_events=("catalog.ProductSynced",),
)
