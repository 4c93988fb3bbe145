"""The consumer of the other side's row snapshots: skips what this side published itself, retries a
transient clash briefly, and makes a snapshot that fails validation a dead letter at once (retrying
cannot help; a person can, with ``manage.py strangler_dead_letters``). ``spec_snapshot_consume`` is
the whole consumer of a spec's row snapshot event (``sync_snapshot_build``'s form)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from strangler.django.errors import ValidationFailed
from strangler.django.extraction.importing import SyncBatchConflict, sync_snapshot_apply
from strangler.django.extraction.spec import ExtractionSpec
from strangler.django.outbox.bus import Unprocessable

CONFLICT_ATTEMPTS = 3


def snapshot_apply(*, envelope: dict[str, Any], origin: str, apply: Callable[[dict], Any],
                   transient: type[Exception], attempts: int = CONFLICT_ATTEMPTS) -> None:
    """Apply ``envelope``'s payload unless ``origin`` published it. ``transient`` (e.g. a concurrent
    local insert of the same row) is retried after a short wait; still failing, it propagates and the
    consumer is retried on its own with backoff (strangler.django.outbox.failures)."""
    payload = envelope.get("payload") or {}
    if payload.get("origin") == origin:
        return
    for attempt in range(1, attempts + 1):
        try:
            apply(payload)
            return
        except transient:
            if attempt == attempts:
                raise
            time.sleep(0.05 * attempt)
        except ValidationFailed as exc:
            raise Unprocessable(f"snapshot fails validation: {exc.message} {exc.fields}") from exc


def spec_snapshot_consume(*, spec: ExtractionSpec, envelope: dict[str, Any]) -> None:
    """Merge the other side's snapshot of one of ``spec``'s rows with the kit's merge (newer revision
    wins, same-revision conflicts decided by the spec's policy and recorded); this side's own are
    skipped, a concurrent insert of the same row is retried, an invalid snapshot is a dead letter.
    Subscribe it under a stable consumer name: ``lambda envelope: spec_snapshot_consume(spec=SPEC,
    envelope=envelope)``."""
    snapshot_apply(envelope=envelope, origin=spec.origin(), transient=SyncBatchConflict,
                   apply=lambda payload: sync_snapshot_apply(spec=spec, snapshot=payload))
