"""The backfill's two export paths agree: rows built in Python (any database) and the JSON built by
PostgreSQL's json_agg read back as the same rows once checked."""

import json

import pytest
from django.db import connection

from monolith.payments.extraction import SPEC
from monolith.payments.tests.factories import payment_row, payments_sync_import, refund_row
from strangler.django.extraction.backfill import Batch
from strangler.django.extraction.export import index_order, rows_export_page, rows_export_page_json
from strangler.django.extraction.rows import RowErrors, rows_clean


def test_postgresql_json_export_matches_the_python_one(db):
    if connection.vendor != "postgresql":
        assert rows_export_page_json(SPEC, after=None, limit=10) is None
        pytest.skip("json_agg export is PostgreSQL's")
    payments = [payment_row(f"k{i}") for i in range(12)]
    for i in (0, 5):
        payments[i] |= {"revision": 3, "refunded_minor": 500}
    payments_sync_import(payments=payments, refunds=[refund_row(payments[i], f"r{i}", 500) for i in (0, 5)],
                         idempotency_records=[])
    after = None
    while True:
        encoded, page = rows_export_page_json(SPEC, after=after, limit=5), rows_export_page(SPEC, after=after, limit=5)
        sent = json.loads(Batch(phase="payments", last="", rows=encoded).encode(SPEC, "monolith"))
        errors = RowErrors()
        payments, refunds = SPEC.row_shape, SPEC.children[0].row_shape
        assert (rows_clean(sent["payments"], errors, name="p", shape=payments)
                == rows_clean(page["payments"], errors, name="p", shape=payments))
        assert (rows_clean(sent["refunds"], errors, name="r", shape=refunds)
                == rows_clean(page.get("refunds", []), errors, name="r", shape=refunds))
        assert (errors.count, sent["origin"], sent["idempotency_records"]) == (0, "monolith", [])
        if not encoded["payments"].count:
            return
        assert encoded["payments"].last == page["payments"][-1]["id"]
        after = encoded["payments"].last


def test_keyset_pages_walk_the_index_without_changing_the_sessions_planner_settings(db):
    """index_order discourages sorting (and JIT) for a page's statement only: on a table without
    statistics the page is read through the id index, and the session's settings are as before."""
    if connection.vendor != "postgresql":
        pytest.skip("PostgreSQL's planner")
    payments_sync_import(payments=[payment_row(f"k{i}") for i in range(30)], refunds=[], idempotency_records=[])
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL jit = on")
        with index_order():
            cursor.execute("EXPLAIN SELECT id FROM payments_payment WHERE id > %s ORDER BY id LIMIT 5000",
                           ["00000000-0000-0000-0000-000000000000"])
            plan = " ".join(row[0] for row in cursor.fetchall())
        assert "payments_payment_pkey" in plan and "Sort" not in plan, plan
        cursor.execute("SELECT current_setting('enable_sort'), current_setting('jit')")
        assert cursor.fetchone() == ("on", "on")
    assert len(rows_export_page_json(SPEC, after=None, limit=10)["payments"].text) > 2
