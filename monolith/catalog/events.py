"""Events the catalog context publishes. After the cut the catalog service publishes the same (it
runs this context), each side with its own origin."""

import dataclasses
from typing import ClassVar

from strangler.django.events import Event


@dataclasses.dataclass(frozen=True, kw_only=True)
class ProductSynced(Event):
    """The whole state of one product after a write (create or change), for the other store while
    both may write products (a canary of the products API).

    ``product`` is the kit's JSON-safe snapshot of the extraction spec's row
    (monolith.catalog.extraction.FIELDS: id, sku, name, description, price_minor, currency, active,
    created_at, revision); ``origin`` ("monolith" | "catalog-service") lets each side ignore its own
    snapshots. Stock is not in it: units move with their owner, never by a copy.
    """

    type_name: ClassVar[str] = "catalog.ProductSynced"
    product: dict
    origin: str
