"""The declarative spec of one bounded context's extraction: what the engine copies, compares and
merges, read from settings.STRANGLER_EXTRACTIONS (context name -> dotted path of its spec)."""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.apps import apps
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db.models import Model
from django.utils.module_loading import import_string

from strangler.django.extraction.conflicts import ConflictPolicy
from strangler.django.extraction.rows import RowShape


@dataclass(frozen=True)
class ChildSpec:
    """Rows owned by a synced row (e.g. refunds of a payment): copied with their parent, never changed."""

    model: str  # "app_label.ModelName"
    kind: str  # the key of these rows in a sync batch, e.g. "refunds"
    parent_field: str  # the foreign key's attribute in rows, e.g. "payment_id"
    fields: Sequence[str]
    compared_fields: Sequence[str]  # reconcile's digest, after the parent's
    total_key: str  # the count of these rows in a checksums page, e.g. "refund_total"
    unique: Sequence[str] = ("id",)  # a child held under these columns is never inserted again
    amount_field: str = ""  # summed into the parent's ``parent_total``, kept within its ``parent_limit``
    parent_total: str = ""
    parent_limit: str = ""
    # Which incoming parent rows need their total recomputed besides the children's parents (all when None).
    recompute_if: Callable[[tuple], bool] | None = None
    shape: RowShape | None = None  # how incoming rows are checked (the model's fields when None)

    @functools.cached_property
    def row_shape(self) -> RowShape:
        return self.shape or RowShape(model=self.model, fields=self.fields)


@dataclass(frozen=True)
class ExtraExport:
    """A further table the backfill copies after the main rows (e.g. idempotency records), keyset-paged
    by ``page(after=int, limit=int) -> (rows, last key or None)``; the import checks its rows with
    ``shape`` and inserts those not held yet by ``unique`` (a held row never changes).
    ``strangler.django.extraction.idempotency_copy.idempotency_records_export`` is one."""

    kind: str
    page: Callable[..., tuple[list[dict], Any]] | str  # or its dotted path
    total: Callable[[], int] | str  # or its dotted path
    shape: RowShape | None = None
    unique: Sequence[str] = ("id",)

    def call(self, name: str, **kwargs: Any) -> Any:
        target = getattr(self, name)
        return (import_string(target) if isinstance(target, str) else target)(**kwargs)


@dataclass(frozen=True)
class ExtractionSpec:
    context: str
    model: str  # "app_label.ModelName"
    kind: str  # the key of these rows in a sync batch, e.g. "payments"
    fields: Sequence[str]  # the synced row, id first
    compared_fields: Sequence[str]  # reconcile's digest, id first (bookkeeping left out)
    sync_path: str  # where the other side serves import/ and checksums/, e.g. "/internal/v1/payments/sync/"
    origin: Callable[[], str]  # who this process is
    shape: RowShape | None = None  # how incoming rows are checked (the model's fields when None)
    snapshot_row: str = "row"  # the row's key in a sync snapshot (its children are under their kinds)
    id_field: str = "id"
    revision_field: str = "revision"
    children: Sequence[ChildSpec] = ()
    extra_exports: Sequence[ExtraExport] = ()
    policy: ConflictPolicy | None = None
    target_client: str = "strangler.django.extraction.client.SyncTarget"
    # The other store's name for internal credentials (its INTERNAL_AUTH_AUDIENCE), e.g. "payments-service".
    target_audience: str = ""
    extra: dict[str, Any] = field(default_factory=dict)
    # The events carrying this context's snapshots to the other side during a cutover: where
    # OUTBOX_ROUTES sends them is checked before a flip (strangler.django.status, the flip gate).
    snapshot_events: Sequence[str] = ()

    @functools.cached_property
    def row_shape(self) -> RowShape:
        return self.shape or RowShape(model=self.model, fields=self.fields)

    @property
    def kinds(self) -> list[str]:
        return [self.kind, *(c.kind for c in self.children), *(e.kind for e in self.extra_exports)]

    def row_model(self) -> type[Model]:
        return apps.get_model(self.model)


def model_get(label: str) -> type[Model]:
    return apps.get_model(label)


def target_audience(spec: ExtractionSpec, given: str = "") -> str:
    """Whom the commands' credentials are minted for: ``--audience``, else the spec's target_audience."""
    audience = given or spec.target_audience
    if not audience:
        raise ImproperlyConfigured(f"extraction {spec.context!r}: give --audience or set target_audience")
    return audience


def extraction_spec(*, context: str) -> ExtractionSpec:
    """The spec registered for ``context`` in settings.STRANGLER_EXTRACTIONS."""
    registered = getattr(settings, "STRANGLER_EXTRACTIONS", {})
    if context not in registered:
        known = ", ".join(sorted(registered)) or "none"
        raise ImproperlyConfigured(f"no extraction {context!r} in STRANGLER_EXTRACTIONS (registered: {known})")
    spec = import_string(registered[context])
    if not isinstance(spec, ExtractionSpec) or spec.context != context:
        raise ImproperlyConfigured(f"STRANGLER_EXTRACTIONS[{context!r}] is not the ExtractionSpec of {context!r}")
    return spec
