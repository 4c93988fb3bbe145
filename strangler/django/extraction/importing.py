"""What one side does with the other side's rows, generic over a spec: a backfill batch (the sync
import endpoint) and a single row's snapshot (the event each write publishes during a cutover).

Rows are checked first (they come over HTTP or the broker; nothing is written when any is
invalid), then merged in one transaction by ``merge.batch_merge``; extra kinds (e.g. idempotency
records) are inserted when missing. Applying writes no outbox row, so a snapshot never echoes back
to where it came from.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.db import IntegrityError, transaction

from strangler.django.errors import Conflict, ValidationFailed
from strangler.django.extraction import merge, upsert
from strangler.django.extraction.export import instance_snapshot
from strangler.django.extraction.rows import RowErrors, RowShape, rows_clean
from strangler.django.extraction.spec import ExtractionSpec, model_get


class SyncBatchConflict(Conflict):
    """Rows here clash with the batch. Usually a race: this side is inserting the same row (same
    derived id and unique key) in a transaction not yet committed, and PostgreSQL reports the key
    index, which ON CONFLICT (id) does not arbitrate. Applying again after that commit succeeds; a
    clash that persists is a real contradiction, which reconcile shows."""

    code = "sync_conflict"


def sync_batch_import(*, spec: ExtractionSpec, batch: Mapping[str, Any], origin: str | None = None) -> dict[str, Any]:
    """Check and merge a batch (``{kind: [row dicts]}`` for the spec's kinds); returns the rows
    written by kind and ``recomputed`` parent totals. Invalid input raises ValidationFailed (400)
    and writes nothing; a clash with rows held here raises SyncBatchConflict (409)."""
    errors = RowErrors()
    rows = rows_clean(batch.get(spec.kind, []), errors, name=spec.kind, shape=spec.row_shape)
    children = {c.kind: rows_clean(batch.get(c.kind, []), errors, name=c.kind, shape=c.row_shape)
                for c in spec.children}
    extras: dict[str, tuple[RowShape, list[tuple]]] = {}
    for extra in spec.extra_exports:
        if extra.shape is None:
            raise ValueError(f"the extra export {extra.kind!r} of {spec.context!r} declares no shape to import by")
        extras[extra.kind] = extra.shape, rows_clean(batch.get(extra.kind, []), errors, name=extra.kind,
                                                     shape=extra.shape)
    errors.raise_if_any()
    merge.orphans_refuse(spec, rows=rows, children=children, errors=errors)
    try:
        with transaction.atomic():
            counts = merge.batch_merge(spec, rows=rows, children=children, origin=origin)
            for extra in spec.extra_exports:
                shape, extra_rows = extras[extra.kind]
                counts[extra.kind] = upsert.rows_insert_missing(model_get(shape.model), shape.fields, extra_rows,
                                                                unique=extra.unique)
    except IntegrityError as exc:
        # Unique keys held under other ids, or children beyond their parent's limit: the batch
        # contradicts what this side holds. Nothing was written (one transaction).
        raise SyncBatchConflict(f"the sync batch conflicts with rows held here: {exc}") from exc
    return counts


def sync_snapshot_build(*, spec: ExtractionSpec, instance: Any) -> dict[str, Any]:
    """The snapshot of one row as it stands in the current transaction, JSON-safe:
    ``{<spec.snapshot_row>: row, <child kind>: [children by id], "origin": this side}``."""
    snapshot: dict[str, Any] = {spec.snapshot_row: instance_snapshot(instance, spec.fields)}
    for child in spec.children:
        held = model_get(child.model).objects.filter(**{child.parent_field: getattr(instance, spec.id_field)})
        snapshot[child.kind] = [instance_snapshot(c, child.fields) for c in held.order_by("id")]
    return snapshot | {"origin": spec.origin()}


def sync_snapshot_apply(*, spec: ExtractionSpec, snapshot: Any) -> bool:
    """Merge one snapshot (``sync_snapshot_build``'s form) from the other side; True when anything
    changed here."""
    name = spec.snapshot_row
    if not isinstance(snapshot, dict) or not isinstance(snapshot.get(name), dict):
        raise ValidationFailed(f"a {name} snapshot needs a {name} object", code="sync_invalid")
    row_id = snapshot[name].get(spec.id_field)
    batch: dict[str, Any] = {spec.kind: [snapshot[name]]}
    for child in spec.children:
        rows = batch[child.kind] = snapshot.get(child.kind, [])
        if isinstance(rows, list) and any(isinstance(r, dict) and r.get(child.parent_field) != row_id for r in rows):
            raise ValidationFailed(f"a snapshot's {child.kind} must belong to its {name}", code="sync_invalid")
    origin = snapshot.get("origin") if isinstance(snapshot.get("origin"), str) else None
    return any(sync_batch_import(spec=spec, batch=batch, origin=origin).values())
