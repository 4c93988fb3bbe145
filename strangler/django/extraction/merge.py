"""The generic merge of one sync batch of an extraction, rows already checked (tuples in the spec's
field order): upsert by revision; at the same revision the spec's policy decides and the conflict
is recorded; children inserted when missing, within their parent's limit; parent totals recomputed."""

from __future__ import annotations

from django.db import transaction

from strangler.django.extraction import upsert
from strangler.django.extraction.conflicts import children_over_limit, conflict_record
from strangler.django.extraction.models import SyncConflict
from strangler.django.extraction.rows import RowErrors
from strangler.django.extraction.spec import ChildSpec, ExtractionSpec, model_get


def same_revision_resolve(spec: ExtractionSpec, rows: list[tuple], *, origin: str | None) -> list[tuple]:
    """Records every same-revision conflict of the batch; returns the incoming rows that win one."""
    if spec.policy is None:
        return []
    key, revision = spec.fields.index(spec.id_field), spec.fields.index(spec.revision_field)
    incoming = {row[key]: row for row in rows}
    winners = []
    for values in upsert.rows_select(spec.row_model(), spec.fields, field=spec.id_field, values=list(incoming)):
        row = incoming[values[key]]
        if values[revision] != row[revision]:  # most held rows: the higher revision decides, in SQL
            continue
        held, theirs = dict(zip(spec.fields, values, strict=True)), dict(zip(spec.fields, row, strict=True))
        if not spec.policy.differs(held, theirs):
            continue
        decision = spec.policy.winner(held=held, held_origin=spec.origin(), incoming=theirs, incoming_origin=origin)
        conflict_record(context=spec.context, row_id=held[spec.id_field], kind=SyncConflict.SAME_REVISION,
                        held=held, incoming=theirs, incoming_origin=origin, decision=decision)
        if decision == SyncConflict.INCOMING:
            winners.append(tuple(theirs.values()))
    return winners


def rows_replace(spec: ExtractionSpec, rows: list[tuple]) -> int:
    """Write the incoming rows that won a same-revision conflict over the held ones."""
    key = spec.fields.index(spec.id_field)
    for row in rows:
        fields = {name: value for name, value in zip(spec.fields, row, strict=True) if name != spec.id_field}
        spec.row_model().objects.filter(pk=row[key]).update(**fields)
    return len(rows)


def children_within_limit(spec: ExtractionSpec, child: ChildSpec, rows: list[tuple], *, origin: str | None) -> list[tuple]:
    """The batch's children minus those that would take their parent's summed amount beyond its limit
    (the held children stay); each refusal is recorded."""
    if not child.parent_limit:
        return rows
    cid, parent, amount = (child.fields.index(n) for n in ("id", child.parent_field, child.amount_field))
    parents = sorted({row[parent] for row in rows})
    limits = dict(upsert.rows_select(spec.row_model(), [spec.id_field, child.parent_limit], field=spec.id_field,
                                     values=parents))
    held = upsert.rows_select(model_get(child.model), [child.parent_field, "id", child.amount_field],
                              field=child.parent_field, values=parents)
    refused = children_over_limit(limits=limits, held=held, incoming=[(r[parent], r[cid], r[amount]) for r in rows])
    for parent_id, child_ids in refused.items():
        kept = [{"id": c, child.amount_field: a} for p, c, a in held if p == parent_id]
        offered = [dict(zip(child.fields, r, strict=True)) for r in rows if r[cid] in child_ids]
        conflict_record(context=spec.context, row_id=parent_id, kind=SyncConflict.INVARIANT,
                        decision=SyncConflict.HELD, held={child.parent_limit: limits[parent_id], child.kind: kept},
                        incoming={child.kind: offered}, incoming_origin=origin,
                        detail=f"{child.kind} would exceed the {child.parent_limit} {limits[parent_id]}")
    return [row for row in rows if row[parent] not in refused]


def orphans_refuse(spec: ExtractionSpec, *, rows: list[tuple], children: dict[str, list[tuple]],
                   errors: RowErrors) -> None:
    """Children whose parent is neither in the batch nor held here make the batch invalid (400)."""
    key = spec.fields.index(spec.id_field)
    for child in spec.children:
        parent = child.fields.index(child.parent_field)
        referenced = {row[parent] for row in children.get(child.kind, [])} - {row[key] for row in rows}
        held = {row[0] for row in upsert.rows_select(spec.row_model(), [spec.id_field], field=spec.id_field,
                                                     values=sorted(referenced))}
        for orphan in sorted(referenced - held)[:5]:
            errors.add(child.kind, f"{spec.row_model()._meta.model_name} {orphan} is neither in the batch nor held here")
    errors.raise_if_any()


def batch_merge(spec: ExtractionSpec, *, rows: list[tuple], children: dict[str, list[tuple]],
                origin: str | None) -> dict[str, int]:
    """Merge in one transaction; returns rows written by kind, and ``recomputed`` parent totals."""
    key = spec.fields.index(spec.id_field)
    with transaction.atomic():
        forced = same_revision_resolve(spec, rows, origin=origin)
        counts = {spec.kind: upsert.rows_upsert_by_revision(spec.row_model(), spec.fields, rows, key=spec.id_field,
                                                            revision=spec.revision_field) + rows_replace(spec, forced)}
        counts["recomputed"] = 0
        for child in spec.children:
            kept = children_within_limit(spec, child, children.get(child.kind, []), origin=origin)
            counts[child.kind] = upsert.rows_insert_missing(model_get(child.model), child.fields, kept,
                                                            unique=child.unique)
            if child.parent_total:
                parent = child.fields.index(child.parent_field)
                again = rows if child.recompute_if is None else [r for r in rows if child.recompute_if(r)]
                touched = {r[parent] for r in kept} | {r[key] for r in again} | {r[key] for r in forced}
                counts["recomputed"] += upsert.children_sum_recompute(
                    parent=spec.row_model(), total=child.parent_total, child=model_get(child.model),
                    parent_fk=child.parent_field, amount=child.amount_field, ids=sorted(touched))
    return counts
