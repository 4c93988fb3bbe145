"""Idempotency-Key handling for API POSTs whose effect must happen once (a charge, an order).

A replay returns the stored first response; the same key with another body is 422; a missing
key is 400. Keys live at least IDEMPOTENCY_TTL_HOURS (24 h by default).

Stripe's semantics: only a request that committed nothing may release its key (a client may then
correct it and retry); one that committed something keeps its answer, a failure included (a 500
is stored and replayed, so a retry never creates a second order), unless its handler is
``resumable`` (running it again continues its own recorded state, as a saga or a charge keyed on
its own domain key does). Answers that depend on a passing state (``transient`` errors and
responses) are never stored. A claim has an owner token: a retry that takes a stale claim over
owns it, and the first request's late end can neither release nor complete it.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
import logging
import re
import uuid
from collections.abc import Callable, Iterator
from typing import Any

from django.conf import settings
from django.db import connections, transaction
from django.utils import timezone
from drf_spectacular.utils import OpenApiParameter
from rest_framework.request import Request
from rest_framework.response import Response

from strangler.django.errors import DomainError, error_body
from strangler.django.idempotency.models import IdempotencyRecord
from strangler.django.idempotency.signals import record_completed

HEADER = "Idempotency-Key"
KEY_MAX = 255
# The key's format, in the document and in the check alike: 1-255 visible ASCII characters.
KEY_SCHEMA = {"type": "string", "minLength": 1, "maxLength": KEY_MAX, "pattern": "^[!-~]+$"}
OPENAPI_PARAMETER = OpenApiParameter(
    HEADER, KEY_SCHEMA, OpenApiParameter.HEADER, required=True,
    description="1-255 visible ASCII characters, unique per intended effect. Replays return the first "
                "response; reuse with another body is 422.",
)
_KEY_RE = re.compile(rf"^[!-~]{{1,{KEY_MAX}}}$")
# A pending claim older than this belongs to a crashed request; a replay may take it over.
STALE_CLAIM = dt.timedelta(seconds=30)
DEFAULT_TTL_HOURS = 24
_WRITES = frozenset({"INSERT", "UPDATE", "DELETE", "REPLACE", "MERGE"})

logger = logging.getLogger(__name__)


_TRANSIENT_ATTR = "strangler_idempotency_transient"


def transient_response(response: Response) -> Response:
    """Mark ``response`` as depending on a passing state (an outcome not known yet, a step still in
    flight): it is answered but not stored under the key, so a retry with the key runs again."""
    setattr(response, _TRANSIENT_ATTR, True)
    return response


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
    return dt.timedelta(hours=getattr(settings, "IDEMPOTENCY_TTL_HOURS", DEFAULT_TTL_HOURS))


class _CommitTracker:
    """Whether the handler committed anything, on any database: a write outside a transaction
    commits at once; one inside commits when its outermost block does (an on_commit marker tells;
    under a test case's wrapping transaction, which never commits, a marker still pending after the
    handler's own blocks closed means the same)."""

    def __init__(self) -> None:
        self.committed = False
        self._marker = self._mark  # one bound method, recognised by identity

    def _mark(self) -> None:
        self.committed = True

    def __call__(self, execute: Callable[..., Any], sql: str, params: Any, many: bool, context: dict) -> Any:
        result = execute(sql, params, many, context)
        words = sql.lstrip().split(None, 1)
        if words and (words[0].upper() in _WRITES
                      or (words[0].upper() == "WITH" and any(w in sql.upper() for w in _WRITES))):
            conn = context["connection"]
            if conn.in_atomic_block:
                transaction.on_commit(self._marker, using=conn.alias)
            else:
                self.committed = True
        return result

    @contextlib.contextmanager
    def watching(self) -> Iterator[None]:
        with contextlib.ExitStack() as stack:
            for conn in connections.all():
                stack.enter_context(conn.execute_wrapper(self))
            yield

    def wrote(self) -> bool:
        if self.committed:
            return True
        return any(entry[1] is self._marker for conn in connections.all(initialized_only=True)
                   for entry in conn.run_on_commit)


def _release(record: IdempotencyRecord, owner: str) -> None:
    IdempotencyRecord.objects.filter(pk=record.pk, state=record.PENDING, owner=owner).delete()


def _complete(record: IdempotencyRecord, owner: str, response: Response) -> None:
    with transaction.atomic():
        stored = IdempotencyRecord.objects.filter(pk=record.pk, state=record.PENDING, owner=owner).update(
            state=record.COMPLETED, status_code=response.status_code, response_body=response.data)
        if stored:
            record_completed.send(sender=IdempotencyRecord, record=IdempotencyRecord.objects.get(pk=record.pk))


def idempotent(request: Request, *, scope: str, handler: Callable[[], Response],
               transient: tuple[type[DomainError], ...] = (), resumable: bool = False) -> Response:
    """Run ``handler`` once per key. Domain refusals it raises are rendered here, so outcomes such
    as a declined card (402) are stored and replayed; ``transient`` ones (worth retrying with the
    same key) propagate and the key is forgotten, as are DomainErrors marked ``transient`` and
    responses marked by ``transient_response``. A handler that fails after committing something
    keeps the key with a stored 500, unless it is ``resumable`` (a re-run continues its state)."""
    key = request.headers.get(HEADER)
    if key is None:
        return Response(error_body("idempotency_key_missing", f"{HEADER} header is required"), status=400)
    if not _KEY_RE.match(key):
        return Response(error_body("idempotency_key_invalid", f"{HEADER} must be 1-255 visible ASCII characters"),
                        status=400)
    fingerprint = request_fingerprint(request)
    now = timezone.now()
    owner = uuid.uuid4().hex

    with transaction.atomic():
        record, created = IdempotencyRecord.objects.select_for_update().get_or_create(
            scope=scope, key=key,
            defaults={"fingerprint": fingerprint, "created_at": now, "locked_at": now, "owner": owner},
        )
        if not created and record.created_at < now - _ttl():
            record.fingerprint, record.state, record.created_at, record.locked_at = fingerprint, record.PENDING, now, now
            record.status_code = record.response_body = None
            record.owner = owner
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
            # Take over a crashed claim: it is ours now; the handler resumes its own state.
            record.locked_at, record.owner = now, owner
            record.save(update_fields=["locked_at", "owner"])

    tracker = _CommitTracker()
    passing = False
    try:
        with tracker.watching():
            try:
                response = handler()
            except transient:
                raise
            except DomainError as exc:
                response = Response(error_body(exc.code, exc.message, exc.fields), status=exc.status_code)
                passing = exc.transient
                if exc.retry_after is not None:
                    response["Retry-After"] = str(exc.retry_after)
    except BaseException as exc:
        if isinstance(exc, transient) or resumable or not isinstance(exc, Exception) or not tracker.wrote():
            _release(record, owner)
            raise
        # Something committed, then the request failed: running it again could do it twice.
        logger.exception("%s %s failed after committing; its key keeps the failure", scope, key)
        response = Response(error_body("server_error", f"the request failed after it changed state; "
                                                       f"this {HEADER} will answer the same (use a new key to "
                                                       f"try again after checking what was done)"), status=500)
        _complete(record, owner, response)
        return response
    passing = passing or getattr(response, _TRANSIENT_ATTR, False)
    if not passing and (_stored(response.status_code) or (tracker.wrote() and not resumable)):
        _complete(record, owner, response)
    else:
        _release(record, owner)
    return response


def idempotency_purge(*, now: dt.datetime | None = None) -> int:
    cutoff = (now or timezone.now()) - _ttl()
    deleted, _ = IdempotencyRecord.objects.filter(created_at__lt=cutoff).delete()
    return deleted
