"""A context's completed Idempotency-Key records (strangler.django.idempotency) copied with its rows,
so a client retrying a request after the cut gets the first answer from the service too. Declare it
in a spec: ``extra_exports=(idempotency_records_export(scope_prefix="billing."),)``; only records
whose scope starts with the prefix (the context's own API scopes) travel, by the backfill and, while
both sides write, one by one in a sync event (``idempotency_record_snapshot`` when a record
completes, strangler.django.idempotency.signals.record_completed; ``idempotency_record_sync_apply``
on the other side)."""

from __future__ import annotations

import functools
from typing import Any

from strangler.django.errors import ValidationFailed
from strangler.django.extraction.export import instance_snapshot, rows_as_dicts
from strangler.django.extraction.rows import Invalid, RowShape, check_datetime, check_int, check_str
from strangler.django.extraction.spec import ExtractionSpec, ExtraExport

KIND = "idempotency_records"
FIELDS = ("scope", "key", "fingerprint", "state", "status_code", "response_body", "created_at", "locked_at")
COMPLETED = "completed"


def _records(scope_prefix: str) -> Any:
    from strangler.django.idempotency.models import IdempotencyRecord

    return IdempotencyRecord.objects.filter(state=COMPLETED, scope__startswith=scope_prefix)


def idempotency_records_page(*, scope_prefix: str, after: int, limit: int) -> tuple[list[dict], int | None]:
    """Up to ``limit`` completed records of the prefix with pk > ``after``; the last pk (None if none)."""
    rows = list(_records(scope_prefix).filter(pk__gt=after).order_by("pk").values_list("pk", *FIELDS)[:limit])
    if not rows:
        return [], None
    return rows_as_dicts(FIELDS, [row[1:] for row in rows]), rows[-1][0]


def idempotency_records_total(*, scope_prefix: str) -> int:
    return _records(scope_prefix).count()


def _scope(value: Any, *, prefix: str) -> str:
    scope = check_str(value, min_length=len(prefix) + 1, max_length=80)
    if not scope.startswith(prefix):
        raise Invalid(f"must start with {prefix!r}")
    return scope


def _state(value: Any) -> str:
    if value != COMPLETED:
        raise Invalid("only completed records are copied")
    return value


def idempotency_records_export(*, scope_prefix: str) -> ExtraExport:
    """The ExtraExport of the records whose scope starts with ``scope_prefix``; the import checks
    them (the prefix, completed only) and inserts those whose (scope, key) is not held yet."""
    # locked_at is bookkeeping of the claim: a completed record may omit it (then its created_at).
    shape = RowShape(model="strangler_idempotency.IdempotencyRecord", fields=FIELDS, key=("scope", "key"),
                     defaults={"locked_at": lambda row: row["created_at"]},
                     overrides={"scope": functools.partial(_scope, prefix=scope_prefix), "state": _state,
                                "locked_at": check_datetime,
                                "fingerprint": functools.partial(check_str, max_length=64),
                                "status_code": functools.partial(check_int, low=100, high=599)})
    return ExtraExport(kind=KIND, page=functools.partial(idempotency_records_page, scope_prefix=scope_prefix),
                       total=functools.partial(idempotency_records_total, scope_prefix=scope_prefix),
                       shape=shape, unique=("scope", "key"))


def idempotency_record_snapshot(*, record: Any, scope_prefix: str) -> dict[str, Any] | None:
    """A completed record of the prefix as the row its sync event carries; None for any other (other
    contexts' keys, claims not completed), which stays on this side."""
    if not record.scope.startswith(scope_prefix) or record.state != COMPLETED:
        return None
    return instance_snapshot(record, FIELDS)


def idempotency_record_sync_apply(*, spec: ExtractionSpec, snapshot: Any) -> bool:
    """Insert the other side's completed answer (``{"record": row, "origin": ...}``) unless a record
    of that key is held here; True when it was inserted."""
    if not isinstance(snapshot, dict) or not isinstance(snapshot.get("record"), dict):
        raise ValidationFailed("an idempotency snapshot needs a record object", code="sync_invalid")
    from strangler.django.extraction.importing import sync_batch_import

    origin = snapshot.get("origin") if isinstance(snapshot.get("origin"), str) else None
    return any(sync_batch_import(spec=spec, batch={KIND: [snapshot["record"]]}, origin=origin).values())
