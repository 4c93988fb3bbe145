"""The extraction spec of the ``catalog`` context (strangler.django.extraction.spec), written by
``manage.py strangler_extract`` from the monolith's app registry. It imports only the kit and
Django's settings, so the same module serves both sides: the service registers it in its
STRANGLER_EXTRACTIONS, and the monolith registers a copy next to its app (``monolith.catalog.extraction``)
so that ``manage.py strangler_backfill catalog --target <service URL>`` copies these rows here and
``manage.py strangler_reconcile catalog --target <service URL>`` compares them.

catalog.Product has no 'revision' column, and the engine replaces a held row only by a
higher revision: add ``revision = models.PositiveIntegerField(default=1)`` (bumped on each
write) and its migration, and add it to MODELS[MODEL] in extraction.py, before the first backfill.
"""

from django.conf import settings

from strangler.django.extraction.conflicts import ConflictPolicy
from strangler.django.extraction.spec import ExtractionSpec

# Every model of the context as the app registry lists it: label -> its columns, primary key first.
MODELS = {
    "catalog.Product": ("id", "sku", "name", "description", "price_minor", "currency", "active", "created_at"),
    "catalog.StockLevel": ("product_id", "on_hand", "reserved"),
    "catalog.StockReservation": ("id", "order_id", "lines", "state", "created_at", "updated_at"),
}
# The synced model: the first of the context's models (none has a 'revision' column).
MODEL = "catalog.Product"
FIELDS = MODELS[MODEL]
ID_FIELD = "id"
REVISION_FIELD = "revision"
# Reconcile's digest: the row without bookkeeping (the revision, auto_now and auto_now_add columns).
COMPARED_FIELDS = ("id", "sku", "name", "description", "price_minor", "currency", "active")
# At the same revision the monolith's version wins (the system of record until the cut), then the digest.
ORIGINS = ("monolith", "catalog-service")


def sync_origin() -> str:
    """Who this process is: the service sets CATALOG_ORIGIN; the monolith leaves it unset."""
    return getattr(settings, "CATALOG_ORIGIN", "monolith")


SPEC = ExtractionSpec(
    context="catalog", model=MODEL, kind="products", fields=FIELDS, compared_fields=COMPARED_FIELDS,
    sync_path="/internal/v1/catalog/sync/", origin=sync_origin, id_field=ID_FIELD, revision_field=REVISION_FIELD,
    policy=ConflictPolicy(revision_field=REVISION_FIELD, compared_fields=COMPARED_FIELDS, origins=ORIGINS),
    target_audience="catalog-service",
)
