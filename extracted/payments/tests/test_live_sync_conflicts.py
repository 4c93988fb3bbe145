"""Concurrent writes to one payment on both live stores (the monolith's and the service's, each its
own SQLite file), exchanged through the real sync path (the internal sync import endpoint): both
sides end up with the same payment, and a merge that would break the money invariant is refused."""

from __future__ import annotations

import sqlite3
import uuid

import pytest

from monolith.payments.tests.factories import payment_row, refund_row
from tests.conftest import ServiceClient

pytestmark = pytest.mark.integration
IMPORT = "/internal/v1/payments/sync/import/"
CHECKSUMS = "/internal/v1/payments/sync/checksums/"


@pytest.fixture(scope="module")
def sides(live_monolith, live_service, live_secret) -> dict[str, ServiceClient]:
    return {"monolith": ServiceClient(live_monolith.url, live_secret, audience="monolith"),
            "payments-service": ServiceClient(live_service.url, live_secret)}


@pytest.fixture(scope="module")
def databases(live_monolith, live_service) -> dict[str, str]:
    return {server.name: server.env["DATABASE_URL"].removeprefix("sqlite:///") for server in (live_monolith, live_service)}


def _sql(path: str, statement: str, params: tuple = ()) -> list[tuple]:
    with sqlite3.connect(path) as conn:
        return conn.execute(statement, params).fetchall()


def _conflicts(databases, payment_id: str) -> dict[str, list[tuple]]:
    return {name: _sql(path, "select kind, decision, incoming_origin from strangler_extraction_syncconflict "
                             "where context = 'payments' and row_id = ?", (payment_id,))
            for name, path in databases.items()}


def _import(side: ServiceClient, *, origin: str, payments: list, refunds: list = ()) -> dict:
    body = {"payments": payments, "refunds": list(refunds), "idempotency_records": [], "origin": origin}
    response = side.call("POST", IMPORT, json=body, caller="monolith")
    assert response.status_code == 200, response.text
    return response.json()


def _checksum(side: ServiceClient, payment_id: str) -> str:
    response = side.call("GET", CHECKSUMS + "?limit=10000", caller="monolith")
    assert response.status_code == 200, response.text
    return dict(response.json()["rows"])[payment_id]


def _exchange(sides, mono_rows: dict, svc_rows: dict) -> None:
    """Each side applies the snapshot the other one published (payments plus refunds)."""
    _import(sides["monolith"], origin="payments-service", **svc_rows)
    _import(sides["payments-service"], origin="monolith", **mono_rows)


def test_same_revision_different_content_converges(sides, databases):
    key = f"orders.checkout:{uuid.uuid4()}"
    captured = payment_row(key, revision=2)
    failed = captured | {"status": "failed", "captured_minor": 0, "processor_ref": "", "failure_reason": "declined"}
    # Written concurrently: settled as captured on the service, as failed on the monolith.
    _import(sides["payments-service"], origin="payments-service", payments=[captured])
    _import(sides["monolith"], origin="monolith", payments=[failed])

    _exchange(sides, {"payments": [failed]}, {"payments": [captured]})

    assert _checksum(sides["monolith"], captured["id"]) == _checksum(sides["payments-service"], captured["id"])
    # Both picked the captured version (the policy's status rank), each recorded the conflict.
    assert _conflicts(databases, captured["id"]) == {
        "monolith": [("same_revision", "incoming", "payments-service")],
        "payments-service": [("same_revision", "held", "monolith")]}
    for path in databases.values():
        assert _sql(path, "select status from payments_payment where idempotency_key = ?", (key,)) == [("captured",)]


def test_refunds_on_both_sides_never_exceed_the_captured_amount(sides, databases):
    key = f"orders.checkout:{uuid.uuid4()}"
    payment = payment_row(key, amount_minor=1000, captured_minor=1000, revision=2)
    for side in sides.values():
        _import(side, origin="monolith", payments=[payment])
    refunded = payment | {"revision": 3, "refunded_minor": 700}
    on_service = refund_row(payment, f"refund-svc:{key}", 700)
    on_monolith = refund_row(payment, f"refund-mono:{key}", 700)
    _import(sides["payments-service"], origin="payments-service", payments=[refunded], refunds=[on_service])
    _import(sides["monolith"], origin="monolith", payments=[refunded], refunds=[on_monolith])

    # The union (1400 > 1000) would break the check constraint: each side refuses the other's refund.
    _exchange(sides, {"payments": [refunded], "refunds": [on_monolith]},
              {"payments": [refunded], "refunds": [on_service]})

    # Each side kept what it held (a refund already paid out is never dropped) and stays within
    # the captured amount; reconcile shows the difference, the conflict is recorded on both.
    assert _checksum(sides["monolith"], payment["id"]) != _checksum(sides["payments-service"], payment["id"])
    assert _conflicts(databases, payment["id"]) == {
        "monolith": [("invariant", "held", "payments-service")],
        "payments-service": [("invariant", "held", "monolith")]}
    for name, path in databases.items():
        assert _sql(path, "select refunded_minor from payments_payment where idempotency_key = ?", (key,)) == [(700,)]
        mine = on_monolith if name == "monolith" else on_service
        assert _sql(path, "select r.idempotency_key from payments_refund r join payments_payment p on r.payment_id = p.id "
                          "where p.idempotency_key = ?", (key,)) == [(mine["idempotency_key"],)]
