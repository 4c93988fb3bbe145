"""Reads of the notifications context."""

from __future__ import annotations

import uuid

from monolith.notifications.models import Notification


def notification_get_for_event(*, event_id: uuid.UUID) -> Notification | None:
    return Notification.objects.filter(event_id=event_id).first()
