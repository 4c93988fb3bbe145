"""Reads of the notifications context."""

from __future__ import annotations

import datetime as dt
import uuid

from monolith.notifications.models import Notification


def notification_get_for_event(*, event_id: uuid.UUID) -> Notification | None:
    return Notification.objects.filter(event_id=event_id).first()


def notifications_due(*, now: dt.datetime, limit: int = 500) -> list[uuid.UUID]:
    """Ids of notifications due to be sent again, oldest first: failed ones, and ones whose send was
    cut short (still "sending" once the claim has run out)."""
    rows = Notification.objects.filter(status__in=Notification.RESENDABLE, next_attempt_at__lte=now)
    return list(rows.order_by("next_attempt_at").values_list("pk", flat=True)[:limit])
