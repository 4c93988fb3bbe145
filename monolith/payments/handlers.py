"""Event consumers of payments: during a cutover, the snapshots the other payments store publishes.

The consumer name is stable (the kernel inbox dedupes on (event_id, consumer)). A snapshot this
side published itself is skipped: it already holds that state, and applying is never re-published.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from monolith.kernel.bus import subscribe
from monolith.kernel.errors import ValidationFailed
from monolith.payments.events import PaymentSynced
from monolith.payments.sync import SyncConflict, payment_sync_apply, sync_origin

logger = logging.getLogger(__name__)

SYNC_APPLY_CONSUMER = "payments.sync_apply"
CONFLICT_ATTEMPTS = 3


@subscribe(PaymentSynced.type_name, consumer=SYNC_APPLY_CONSUMER)
def on_payment_synced(envelope: dict[str, Any]) -> None:
    payload = envelope.get("payload") or {}
    if payload.get("origin") == sync_origin():
        return
    for attempt in range(1, CONFLICT_ATTEMPTS + 1):
        try:
            payment_sync_apply(snapshot=payload)
            return
        except SyncConflict:
            # A concurrent local insert of the same payment: wait for its commit and merge again.
            # Still clashing after that: raise, and the dispatch task retries with backoff (never drop).
            if attempt == CONFLICT_ATTEMPTS:
                raise
            time.sleep(0.05 * attempt)
        except ValidationFailed as exc:
            # Retrying a malformed snapshot cannot help; reconcile will show the gap.
            logger.error("payment snapshot %s not applied: %s %s", envelope.get("event_id"), exc.message, exc.fields)
            return
