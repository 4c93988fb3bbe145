"""In-process subscriber registry and idempotent dispatch of envelopes to consumers."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from django.db import IntegrityError, transaction

from monolith.kernel.models import InboxMessage

logger = logging.getLogger(__name__)

Handler = Callable[[dict[str, Any]], None]
_subscribers: dict[str, list[tuple[str, Handler]]] = {}


def subscribe(event_type: str, *, consumer: str) -> Callable[[Handler], Handler]:
    """Register ``handler(envelope)`` for ``event_type`` under a stable consumer name."""

    def register(handler: Handler) -> Handler:
        entries = _subscribers.setdefault(event_type, [])
        if all(name != consumer for name, _ in entries):
            entries.append((consumer, handler))
        return handler

    return register


def subscribers(event_type: str) -> list[tuple[str, Handler]]:
    return list(_subscribers.get(event_type, []))


def dispatch(envelope: dict[str, Any]) -> int:
    """Run every consumer of the envelope once; returns how many actually ran.

    The inbox row and the consumer's writes share one transaction: a failed handler leaves no
    row, so a retry runs it again; a duplicate delivery finds the row and is skipped.
    """
    ran = 0
    for consumer, handler in subscribers(envelope["type"]):
        with transaction.atomic():
            try:
                # Only this insert's IntegrityError means "already processed"; one raised by the
                # handler's own writes must propagate (and be retried), not be taken for a duplicate.
                with transaction.atomic():
                    InboxMessage.objects.create(
                        event_id=envelope["event_id"], consumer=consumer, event_type=envelope["type"]
                    )
            except IntegrityError:
                logger.info("event %s already processed by %s", envelope["event_id"], consumer)
                continue
            handler(envelope)
        ran += 1
    return ran
