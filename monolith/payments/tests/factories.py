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


def payments_sync_import(*, payments: list, refunds: list, idempotency_records: list, origin: str | None = None) -> dict:
    """A backfill batch through the kit's import on payments' spec, as the sync import endpoint runs it."""
    from monolith.payments.extraction import SPEC
    from strangler.django.extraction.importing import sync_batch_import

    batch = {"payments": payments, "refunds": refunds, "idempotency_records": idempotency_records}
    counts = sync_batch_import(spec=SPEC, batch=batch, origin=origin)
    return {kind: counts[kind] for kind in SPEC.kinds}


def payment_sync_apply(*, snapshot: dict) -> bool:
    """A PaymentSynced payload through the kit's snapshot apply on payments' spec, as the handler runs it."""
    from monolith.payments.extraction import SPEC
    from strangler.django.extraction.importing import sync_snapshot_apply

    return sync_snapshot_apply(spec=SPEC, snapshot=snapshot)
