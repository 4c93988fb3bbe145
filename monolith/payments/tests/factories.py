"""Rows in the sync (snapshot / import) format, for the sync, checksum and API tests."""

from __future__ import annotations

import uuid

from monolith.kernel.ids import PAYMENT_ID_NAMESPACE, REFUND_ID_NAMESPACE, id_from_key

CREATED = "2026-01-02T03:04:05.123456+00:00"


def payment_row(key: str = "k1", **overrides) -> dict:
    row = {
        "id": str(id_from_key(PAYMENT_ID_NAMESPACE, key)), "order_id": str(uuid.uuid4()), "user_id": str(uuid.uuid4()),
        "amount_minor": 2500, "currency": "EUR", "status": "captured", "failure_reason": "",
        "processor_ref": f"fake_ch_{key}", "captured_minor": 2500, "refunded_minor": 0, "idempotency_key": key,
        "revision": 2, "created_at": CREATED, "updated_at": CREATED,
    }
    return row | overrides


def refund_row(payment: dict, key: str = "r1", amount_minor: int = 500, **overrides) -> dict:
    row = {
        "id": str(id_from_key(REFUND_ID_NAMESPACE, key)), "payment_id": payment["id"], "amount_minor": amount_minor,
        "currency": payment["currency"], "processor_ref": f"fake_re_{key}", "idempotency_key": key,
        "created_at": CREATED,
    }
    return row | overrides


def idempotency_row(key: str = "i1", **overrides) -> dict:
    row = {"scope": "payments.charge:u1", "key": key, "fingerprint": "f" * 64, "state": "completed",
           "status_code": 201, "response_body": {"id": "x", "status": "captured"}, "created_at": CREATED,
           "locked_at": CREATED}
    return row | overrides
