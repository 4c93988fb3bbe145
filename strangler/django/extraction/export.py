"""Reads for the backfill: keyset pages of a spec's rows with their children, in the JSON form the
other side's sync import takes, and the totals the progress line counts against."""

from __future__ import annotations

import contextlib
import datetime as dt
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from django.db import connection, transaction

from strangler.django.extraction.spec import ExtractionSpec, model_get


def jsonable(value: Any) -> Any:
    """A column value as JSON takes it (UUIDs and datetimes as strings)."""
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, dt.datetime):
        return value.isoformat()
    return value


def instance_snapshot(instance: Any, names: Sequence[str]) -> dict[str, Any]:
    """A model instance's ``names`` fields, JSON-safe (a sync snapshot's row)."""
    return {name: jsonable(getattr(instance, name)) for name in names}


def rows_as_dicts(names: Sequence[str], rows: list[tuple]) -> list[dict[str, Any]]:
    return [dict(zip(names, map(jsonable, row), strict=True)) for row in rows]


@contextlib.contextmanager
def index_order() -> Iterator[None]:
    """Keyset pages (``id > after ORDER BY id LIMIT n``) walk the id index. On a table without
    statistics (a fresh restore, autovacuum off) PostgreSQL's planner otherwise sorts the whole
    table for every page, which makes a backfill or a reconcile quadratic in the table's size.
    Sorting is discouraged for the statements inside, in their own transaction, and restored after;
    so is JIT compilation, which the discouraged plans' cost would trigger (~0.5 s per page, for
    statements that run in milliseconds)."""
    if connection.vendor != "postgresql":
        yield
        return
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SELECT current_setting('enable_sort'), current_setting('jit'), "
                       "set_config('enable_sort', 'off', true), set_config('jit', 'off', true)")
        sort, jit = cursor.fetchone()[:2]
        yield
        cursor.execute("SELECT set_config('enable_sort', %s, true), set_config('jit', %s, true)", [sort, jit])


def rows_export_page(spec: ExtractionSpec, *, after: Any, limit: int) -> dict[str, list[dict]]:
    """Up to ``limit`` rows after ``after`` in id order, and every child row of those, by kind
    (``{spec.kind: [...]}`` only, empty, past the last row)."""
    rows_qs = spec.row_model().objects.order_by(spec.id_field)
    if after is not None:
        rows_qs = rows_qs.filter(**{f"{spec.id_field}__gt": after})
    rows = list(rows_qs.values_list(*spec.fields)[:limit])
    page = {spec.kind: rows_as_dicts(spec.fields, rows)}
    if not rows:
        return page
    first, last = rows[0][spec.fields.index(spec.id_field)], rows[-1][spec.fields.index(spec.id_field)]
    for child in spec.children:
        # The page is id-ordered: a range finds the children through the parent index, no long IN list.
        held = (model_get(child.model).objects.filter(**{f"{child.parent_field}__gte": first,
                                                         f"{child.parent_field}__lte": last})
                .order_by("pk").values_list(*child.fields))
        page[child.kind] = rows_as_dicts(child.fields, list(held))
    return page


@dataclass(frozen=True)
class EncodedRows:
    """Rows already in JSON (PostgreSQL's json_agg), with how many and the last id."""

    text: str
    count: int
    last: str | None


def _columns(model: Any, names: Sequence[str]) -> str:
    quote = connection.ops.quote_name
    return ", ".join(f"{quote(model._meta.get_field(n).column)} AS {quote(n)}" for n in names)


def rows_export_page_json(spec: ExtractionSpec, *, after: Any, limit: int) -> dict[str, EncodedRows] | None:
    """``rows_export_page`` with the JSON built by PostgreSQL in one statement (no Python per value:
    the backfill's source side is ~5x cheaper); None on other databases."""
    if connection.vendor != "postgresql":
        return None
    quote, model = connection.ops.quote_name, spec.row_model()
    key = quote(spec.id_field)
    where = f"WHERE {quote(model._meta.get_field(spec.id_field).column)} > %s" if after is not None else ""
    parts = [f"(SELECT coalesce(json_agg(page ORDER BY page.{key}), '[]')::text FROM page)",
             "(SELECT count(*) FROM page)", f"(SELECT page.{key}::text FROM page ORDER BY page.{key} DESC LIMIT 1)"]
    kids = []  # one CTE per child kind, read twice (rows, count), so its join runs once
    for index, child in enumerate(spec.children):
        child_model = model_get(child.model)
        fk = quote(child_model._meta.get_field(child.parent_field).column)
        kids.append(f"kids{index} AS MATERIALIZED (SELECT {_columns(child_model, child.fields)} FROM "
                    f"{quote(child_model._meta.db_table)} WHERE {fk} IN (SELECT {key} FROM page))")
        parts += [f"(SELECT coalesce(json_agg(c ORDER BY c.{quote('id')}), '[]')::text FROM kids{index} c)",
                  f"(SELECT count(*) FROM kids{index})"]
    page_cte = (f"page AS (SELECT {_columns(model, spec.fields)} FROM {quote(model._meta.db_table)} {where} "
                f"ORDER BY {quote(model._meta.get_field(spec.id_field).column)} LIMIT %s)")
    sql = f"WITH {', '.join([page_cte, *kids])} SELECT {', '.join(parts)}"
    with index_order(), connection.cursor() as cursor:
        cursor.execute(sql, ([str(after)] if after is not None else []) + [limit])
        values = cursor.fetchone()
    page = {spec.kind: EncodedRows(text=values[0], count=values[1], last=values[2])}
    for index, child in enumerate(spec.children):
        page[child.kind] = EncodedRows(text=values[3 + 2 * index], count=values[4 + 2 * index], last=None)
    return page


def export_totals(spec: ExtractionSpec) -> dict[str, int]:
    totals = {spec.kind: spec.row_model().objects.count()}
    totals |= {child.kind: model_get(child.model).objects.count() for child in spec.children}
    totals |= {extra.kind: extra.call("total") for extra in spec.extra_exports}
    return totals
