"""Idempotency-Key handling for POSTs that move money or create orders.

A replay returns the stored first response; the same key with another body is 422; a missing
key is 400. Keys live at least IDEMPOTENCY_TTL_HOURS (24 h by default).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
from collections.abc import Callable

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from drf_spectacular.utils import OpenApiParameter
from rest_framework.request import Request
from rest_framework.response import Response

from monolith.kernel.errors import DomainError, error_body
from monolith.kernel.models import IdempotencyRecord

HEADER = "Idempotency-Key"
OPENAPI_PARAMETER = OpenApiParameter(
    HEADER, str, OpenApiParameter.HEADER, required=True,
    description="Replays return the first response; reuse with another body is 422.",
)
_KEY_RE = re.compile(r"^[\x21-\x7e]{1,255}$")
# A pending claim older than this belongs to a crashed request; a replay may take it over.
STALE_CLAIM = dt.timedelta(seconds=30)


def _stored(status: int) -> bool:
    """Outcomes worth remembering. Input errors (400/404/415/422) wrote nothing: the key is
    forgotten so the client can correct the request; 5xx are retried by executing again."""
    return status < 400 or status in (402, 409)


def request_fingerprint(request: Request) -> str:
    raw = request._request.body  # read before DRF parses it, so both can use it
    try:
        canonical = json.dumps(json.loads(raw or b"null"), sort_keys=True, separators=(",", ":")).encode()
    except (ValueError, UnicodeDecodeError):
        canonical = raw
    digest = hashlib.sha256()
    digest.update(request.method.encode() + b" " + request.path.encode() + b"\n")
    user_id = getattr(getattr(request._request, "user", None), "pk", None)
    digest.update(str(user_id).encode() + b"\n")
    digest.update(canonical)
    return digest.hexdigest()


def _ttl() -> dt.timedelta:
    return dt.timedelta(hours=settings.IDEMPOTENCY_TTL_HOURS)


def idempotent(request: Request, *, scope: str, handler: Callable[[], Response],
               transient: tuple[type[DomainError], ...] = ()) -> Response:
    """Run ``handler`` once per key. Domain refusals it raises are rendered here, so outcomes such
    as a declined card (402) are stored and replayed; ``transient`` ones (worth retrying with the
    same key) propagate and the key is forgotten."""
    key = request.headers.get(HEADER)
    if key is None:
        return Response(error_body("idempotency_key_missing", f"{HEADER} header is required"), status=400)
    if not _KEY_RE.match(key):
        return Response(error_body("idempotency_key_invalid", f"{HEADER} must be 1-255 visible ASCII characters"),
                        status=400)
    fingerprint = request_fingerprint(request)
    now = timezone.now()

    with transaction.atomic():
        record, created = IdempotencyRecord.objects.select_for_update().get_or_create(
            scope=scope, key=key, defaults={"fingerprint": fingerprint, "created_at": now, "locked_at": now}
        )
        if not created and record.created_at < now - _ttl():
            record.fingerprint, record.state, record.created_at, record.locked_at = fingerprint, record.PENDING, now, now
            record.status_code = record.response_body = None
            record.save()
            created = True
        if not created:
            if record.fingerprint != fingerprint:
                return Response(
                    error_body("idempotency_key_reused", f"this {HEADER} was used with a different request"),
                    status=422,
                )
            if record.state == record.COMPLETED:
                return Response(record.response_body, status=record.status_code,
                                headers={"Idempotent-Replayed": "true"})
            if record.locked_at > now - STALE_CLAIM:
                return Response(error_body("request_in_progress", "the first request with this key is still running"),
                                status=409, headers={"Retry-After": "1"})
            record.locked_at = now  # take over a crashed claim; the handler resumes its own state
            record.save(update_fields=["locked_at"])

    try:
        try:
            response = handler()
        except transient:
            raise
        except DomainError as exc:
            response = Response(error_body(exc.code, exc.message, exc.fields), status=exc.status_code)
    except BaseException:
        IdempotencyRecord.objects.filter(pk=record.pk, state=record.PENDING).delete()
        raise
    if _stored(response.status_code):
        IdempotencyRecord.objects.filter(pk=record.pk).update(
            state=record.COMPLETED, status_code=response.status_code, response_body=response.data
        )
    else:
        IdempotencyRecord.objects.filter(pk=record.pk, state=record.PENDING).delete()
    return response


def idempotency_purge(*, now: dt.datetime | None = None) -> int:
    cutoff = (now or timezone.now()) - _ttl()
    deleted, _ = IdempotencyRecord.objects.filter(created_at__lt=cutoff).delete()
    return deleted
