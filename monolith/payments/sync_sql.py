"""Set-based upserts of sync rows, in raw SQL because backfill must move tens of thousands of rows
a second: the ORM's per-object save or bulk_create cannot express "update only when the incoming
revision is higher" in one statement.

PostgreSQL and SQLite both accept ``INSERT ... ON CONFLICT ... DO UPDATE ... WHERE``. Two ways in:

- PostgreSQL with psycopg 3: one ``INSERT ... SELECT * FROM unnest(<one binary array per column>)``
  a table. Measured on 5,000 payments: ~0.09 s, against ~0.35 s for multi-row VALUES, whose
  client-side parameter formatting dominates.
- anything else (SQLite): multi-row VALUES in chunks under the backend's parameter limit, values
  converted by each field's ``get_db_prep_value`` (uuid vs. char(32) hex, datetimes, JSON).

Statements run on the driver cursor inside Django's error wrapper (so IntegrityError is Django's):
the debug cursor would otherwise format and keep every multi-megabyte statement.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from django.db import connection
from django.db.models import Field, Model

from monolith.kernel.models import IdempotencyRecord
from monolith.payments.models import Payment, Refund
from monolith.payments.sync_rows import IDEMPOTENCY_FIELDS, PAYMENT_FIELDS, REFUND_FIELDS

ROWS_PER_STATEMENT = 1000
_PASSTHROUGH = ("CharField", "TextField", "PositiveBigIntegerField", "PositiveIntegerField",
                "PositiveSmallIntegerField", "BigIntegerField", "IntegerField")


def _qn(name: str) -> str:
    return connection.ops.quote_name(name)


def _unnest_available() -> bool:
    if connection.vendor != "postgresql":
        return False
    from django.db.backends.postgresql.psycopg_any import is_psycopg3

    return is_psycopg3


def _fields(model: type[Model], names: Sequence[str]) -> list[Field]:
    return [model._meta.get_field(n) for n in names]


def _converters(fields: Sequence[Field], *, keep_native: bool) -> list[Callable[[Any], Any] | None]:
    """Per column: None when the driver takes the Python value as is, else the field's conversion.
    psycopg takes UUIDs and datetimes natively; JSON always needs the backend's adapter."""

    def prep(field: Field) -> Callable[[Any], Any]:
        return lambda value: field.get_db_prep_value(value, connection, prepared=False)

    def native(field: Field) -> bool:
        kind = field.get_internal_type()
        return kind in _PASSTHROUGH or (keep_native and kind in ("UUIDField", "ForeignKey", "DateTimeField"))

    return [None if native(f) else prep(f) for f in fields]


def _convert(value: Any, conv: Callable[[Any], Any] | None) -> Any:
    return value if conv is None or value is None else conv(value)


def _execute(sql: str, params: Sequence[Any]) -> int:
    with connection.cursor() as cursor, connection.wrap_database_errors:
        cursor.cursor.execute(sql, params)
        return max(cursor.cursor.rowcount, 0)


def _execute_binary(sql: str, params: Sequence[Any]) -> int:
    """Server-side binding with binary parameters (psycopg 3), on Django's connection and transaction."""
    import psycopg

    connection.ensure_connection()
    with connection.wrap_database_errors, psycopg.Cursor(connection.connection) as cursor:
        cursor.execute(sql, params)
        return max(cursor.rowcount, 0)


def _insert(model: type[Model], names: Sequence[str], rows: list[tuple], conflict: str) -> int:
    """INSERT ... <conflict> of ``rows`` (tuples in ``names`` order); returns rows inserted or updated."""
    if not rows:
        return 0
    fields = _fields(model, names)
    table = _qn(model._meta.db_table)
    columns = ", ".join(_qn(f.column) for f in fields)
    if _unnest_available():
        converters = _converters(fields, keep_native=True)
        arrays = [[_convert(v, conv) for v in column] for column, conv in zip(zip(*rows, strict=False), converters, strict=True)]
        casts = ", ".join(f"%b::{f.db_type(connection)}[]" for f in fields)
        return _execute_binary(f"INSERT INTO {table} ({columns}) SELECT * FROM unnest({casts}) {conflict}", arrays)
    converters = _converters(fields, keep_native=False)
    limit = connection.features.max_query_params
    size = ROWS_PER_STATEMENT if not limit else max(1, min(ROWS_PER_STATEMENT, limit // len(fields)))
    one = "(" + ", ".join(["%s"] * len(fields)) + ")"
    written = 0
    for start in range(0, len(rows), size):
        chunk = rows[start:start + size]
        params = [_convert(v, conv) for row in chunk for v, conv in zip(row, converters, strict=True)]
        written += _execute(f"INSERT INTO {table} ({columns}) VALUES {', '.join([one] * len(chunk))} {conflict}", params)
    return written


def payments_upsert(rows: list[tuple]) -> int:
    """Insert missing payments; replace an existing one only when the incoming revision is higher."""
    table = _qn(Payment._meta.db_table)
    updates = ", ".join(f"{_qn(c)} = excluded.{_qn(c)}" for c in PAYMENT_FIELDS if c != "id")
    conflict = (f"ON CONFLICT ({_qn('id')}) DO UPDATE SET {updates} "
                f"WHERE {table}.{_qn('revision')} < excluded.{_qn('revision')}")
    return _insert(Payment, PAYMENT_FIELDS, rows, conflict)


def refunds_insert(rows: list[tuple]) -> int:
    """Insert missing refunds; a refund never changes once written."""
    names = ["payment" if n == "payment_id" else n for n in REFUND_FIELDS]
    return _insert(Refund, names, rows, f"ON CONFLICT ({_qn('id')}) DO NOTHING")


def idempotency_records_insert(rows: list[tuple]) -> int:
    """Insert completed records missing here; a record already held (same scope and key) wins."""
    return _insert(IdempotencyRecord, IDEMPOTENCY_FIELDS, rows, f"ON CONFLICT ({_qn('scope')}, {_qn('key')}) DO NOTHING")


def payments_refunded_recompute(payment_ids: list[Any]) -> int:
    """refunded_minor := the sum of the refunds held, for the given payments; returns rows changed."""
    if not payment_ids:
        return 0
    payment, refund = _qn(Payment._meta.db_table), _qn(Refund._meta.db_table)
    amount, payment_id, refunded, pk = _qn("amount_minor"), _qn("payment_id"), _qn("refunded_minor"), _qn("id")
    if _unnest_available():
        return _execute_binary(
            f"UPDATE {payment} SET {refunded} = s.total FROM ("
            f"SELECT b.id, COALESCE(SUM(r.{amount}), 0) AS total FROM unnest(%b::uuid[]) AS b(id) "
            f"LEFT JOIN {refund} r ON r.{payment_id} = b.id GROUP BY b.id) s "
            f"WHERE {payment}.{pk} = s.id AND {payment}.{refunded} <> s.total",
            [list(payment_ids)],
        )
    total = f"COALESCE((SELECT SUM(r.{amount}) FROM {refund} r WHERE r.{payment_id} = {payment}.{pk}), 0)"
    id_field = Payment._meta.get_field("id")
    limit = connection.features.max_query_params
    size = ROWS_PER_STATEMENT if not limit else min(ROWS_PER_STATEMENT, limit)
    changed = 0
    for start in range(0, len(payment_ids), size):
        chunk = [id_field.get_db_prep_value(v, connection, prepared=False) for v in payment_ids[start:start + size]]
        changed += _execute(f"UPDATE {payment} SET {refunded} = {total} "
                            f"WHERE {pk} IN ({', '.join(['%s'] * len(chunk))}) AND {refunded} <> {total}", chunk)
    return changed
