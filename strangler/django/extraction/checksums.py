"""Reconcile checksums of a spec's rows: one short digest per row, equal on both stores iff the
compared fields of the row and of its children are."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from strangler.django.extraction.export import index_order
from strangler.django.extraction.spec import ExtractionSpec, model_get

MAX_PAGE = 10_000


def _text(value: Any) -> str:
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, str) and len(value) in (32, 36):
        try:  # UUIDs in canonical hyphenated lower-case form, whatever form they came in
            return str(uuid.UUID(value))
        except ValueError:
            return value
    return str(value)


def digest(row: Sequence[Any], children: Iterable[Iterable[Sequence[Any]]]) -> str:
    """SHA-256 (32 hex) of the row's values then, per child kind, its children sorted as text."""
    parts = [_text(v) for v in row]
    for rows in children:  # canonical UUID strings sort like the UUIDs themselves
        parts += sorted(":".join(_text(v) for v in r) for r in rows)
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:32]


def row_checksum(spec: ExtractionSpec, *, row: Mapping[str, Any], children: Mapping[str, Iterable[Mapping]]) -> str:
    """Checksum of a row and its children given as mappings (rows, snapshots, DTO dicts)."""
    return digest([row[f] for f in spec.compared_fields],
                  [[[c[f] for f in child.compared_fields] for c in children.get(child.kind, ())]
                   for child in spec.children])


def checksums_page(spec: ExtractionSpec, *, after: Any, limit: int) -> tuple[list[list[str]], Any]:
    """Up to ``limit`` [id, checksum] pairs in id order after ``after``; the id to pass as ``after``
    for the following page, None on the last page. One query for the rows, one per child kind."""
    limit = max(1, min(limit, MAX_PAGE))
    rows_qs = spec.row_model().objects.order_by(spec.id_field)
    if after is not None:
        rows_qs = rows_qs.filter(**{f"{spec.id_field}__gt": after})
    with index_order():
        rows = list(rows_qs.values_list(*spec.compared_fields)[:limit + 1])
    more = len(rows) > limit
    rows = rows[:limit]
    kinds: list[dict[Any, list[tuple]]] = []
    for child in spec.children:
        held: dict[Any, list[tuple]] = {}
        if rows:
            children = model_get(child.model).objects
            if len(rows) < 500:
                children = children.filter(**{f"{child.parent_field}__in": [r[0] for r in rows]})
            else:  # a range is cheaper than a long IN list, and the page is id-ordered
                children = children.filter(**{f"{child.parent_field}__gte": rows[0][0],
                                              f"{child.parent_field}__lte": rows[-1][0]})
            for parent, *fields in children.values_list(child.parent_field, *child.compared_fields):
                held.setdefault(parent, []).append(fields)
        kinds.append(held)
    page = [[str(r[0]), digest(r, [held.get(r[0], ()) for held in kinds])] for r in rows]
    return page, (rows[-1][0] if more else None)


def checksum_totals(spec: ExtractionSpec) -> dict[str, int]:
    totals = {spec.kind: spec.row_model().objects.count()}
    for child in spec.children:
        totals[child.kind] = model_get(child.model).objects.count()
    return totals
