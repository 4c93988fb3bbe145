"""Reconcile checksums: equal for equal business data, different when any business field differs."""

import hashlib
import uuid

import pytest

from monolith.payments.extraction import SPEC
from monolith.payments.models import Payment
from monolith.payments.tests.factories import payment_row, payments_sync_import, refund_row
from strangler.django.extraction.checksums import checksum_totals, checksums_page, row_checksum


def payment_checksum(*, payment, refunds):
    return row_checksum(SPEC, row=payment, children={"refunds": refunds})


def test_checksum_is_the_documented_digest():
    payment = payment_row(refunded_minor=800, revision=4)
    refunds = [refund_row(payment, "r2", 300), refund_row(payment, "r1", 500)]
    fields = [payment[f] for f in ("id", "order_id", "user_id", "amount_minor", "currency", "status",
                                   "failure_reason", "processor_ref", "captured_minor", "refunded_minor",
                                   "idempotency_key")]
    parts = [str(v) for v in fields] + [
        f"{r['id']}:{r['amount_minor']}:{r['currency']}:{r['processor_ref']}:{r['idempotency_key']}"
        for r in sorted(refunds, key=lambda r: r["id"])]
    expected = hashlib.sha256("|".join(parts).encode()).hexdigest()[:32]
    assert payment_checksum(payment=payment, refunds=refunds) == expected
    # Bookkeeping is not business data; UUID spelling does not matter.
    same = payment | {"revision": 9, "updated_at": "2030-01-01T00:00:00+00:00", "id": uuid.UUID(payment["id"]).hex}
    assert payment_checksum(payment=same, refunds=list(reversed(refunds))) == expected


@pytest.mark.parametrize(("field", "value"), [("status", "failed"), ("processor_ref", "other"),
                                              ("refunded_minor", 1), ("currency", "USD"), ("failure_reason", "x")])
def test_checksum_changes_with_any_business_field(field, value):
    payment = payment_row()
    assert payment_checksum(payment=payment, refunds=[]) != payment_checksum(payment=payment | {field: value}, refunds=[])


def test_checksum_changes_with_a_refund():
    payment = payment_row()
    refund = refund_row(payment)
    assert payment_checksum(payment=payment, refunds=[]) != payment_checksum(payment=payment, refunds=[refund])
    assert payment_checksum(payment=payment, refunds=[refund]) != payment_checksum(
        payment=payment, refunds=[refund | {"amount_minor": 1}])


def test_pages_cover_every_payment_once_in_id_order(db):
    payments = [payment_row(f"k{i}") for i in range(25)]
    payments[3] |= {"refunded_minor": 500, "revision": 3}
    refunds = [refund_row(payments[3], "r", 500)]
    payments_sync_import(payments=payments, refunds=refunds, idempotency_records=[])
    seen, after, pages = [], None, 0
    while True:
        rows, after = checksums_page(SPEC, after=after, limit=10)
        seen += rows
        pages += 1
        if after is None:
            break
    assert pages == 3
    assert [r[0] for r in seen] == sorted(p["id"] for p in payments)
    by_id = {p["id"]: p for p in payments}
    for payment_id, checksum in seen:
        own = [r for r in refunds if r["payment_id"] == payment_id]
        assert checksum == payment_checksum(payment=by_id[payment_id], refunds=own)
    assert checksum_totals(SPEC) == {"payments": 25, "refunds": 1}


def test_an_exactly_full_last_page_has_no_next(db):
    payments_sync_import(payments=[payment_row(f"k{i}") for i in range(10)], refunds=[], idempotency_records=[])
    rows, after = checksums_page(SPEC, after=None, limit=10)
    assert (len(rows), after) == (10, None)
    assert Payment.objects.count() == 10
