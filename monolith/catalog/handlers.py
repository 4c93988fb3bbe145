"""Event consumers of the catalog: while both stores may write products, the product snapshots the
other side publishes, merged by the kit (newer revision wins, same-revision conflicts by the spec's
policy and recorded, invalid snapshots dead-lettered). Registered in the monolith and in the catalog
service alike (apps.py); each skips the snapshots of its own origin.

The consumer name is stable: the kit's inbox dedupes on (event_id, consumer).
"""

from __future__ import annotations

from typing import Any

from monolith.catalog.events import ProductSynced
from monolith.catalog.extraction import SPEC
from strangler.django.extraction.consumer import spec_snapshot_consume
from strangler.django.outbox.bus import subscribe

SYNC_APPLY_CONSUMER = "catalog.sync_apply"


@subscribe(ProductSynced.type_name, consumer=SYNC_APPLY_CONSUMER)
def on_product_synced(envelope: dict[str, Any]) -> None:
    spec_snapshot_consume(spec=SPEC, envelope=envelope)
