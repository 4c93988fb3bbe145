"""What the catalog publishes while both stores may write products: after every product write, the
kit's snapshot of its spec's row as ``ProductSynced``, in the writing transaction; the other side
merges it with the kit's consumer (handlers.py). Stock is never in it (extraction.py says why)."""

from __future__ import annotations

from monolith.catalog.events import ProductSynced
from monolith.catalog.extraction import SPEC
from monolith.catalog.models import Product
from strangler.django.extraction.importing import sync_snapshot_build
from strangler.django.outbox.services import outbox_add


def product_synced_publish(*, product: Product) -> None:
    """Record ``product``'s snapshot, as it stands in the current transaction, in the outbox."""
    outbox_add(event=ProductSynced(**sync_snapshot_build(spec=SPEC, instance=product)))
