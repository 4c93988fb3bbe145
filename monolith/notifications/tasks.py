"""Background work of notifications: a periodic sweep sends failed mails again, each by id."""

from celery import shared_task
from django.utils import timezone

from monolith.notifications.selectors import notifications_due
from monolith.notifications.services import notification_resend


@shared_task(name="notifications.resend", acks_late=True)
def notification_resend_task(notification_id: str) -> str:
    return notification_resend(notification_id=notification_id).status


@shared_task(name="notifications.resend_due")
def notifications_resend_due() -> int:
    """Enqueue one resend per due failed mail; a resend claims its row, so overlapping sweeps are harmless."""
    ids = notifications_due(now=timezone.now())
    for notification_id in ids:
        notification_resend_task.delay(str(notification_id))
    return len(ids)
