"""A mail that failed is sent again by the resend sweep, with backoff, up to a bound; then it stays
failed for a person to look at."""

import datetime as dt
import uuid

import pytest
from django.core import mail
from django.utils import timezone

from monolith.notifications.models import Notification
from monolith.notifications.selectors import notifications_due
from monolith.notifications.services import MAX_ATTEMPTS, notification_order_confirmed, notification_resend

pytestmark = pytest.mark.django_db


@pytest.fixture
def smtp_down(settings):
    """A real SMTP backend pointed at a closed port: the connection is refused."""
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_TIMEOUT = "127.0.0.1", 1, 2
    return settings


def _confirmed(user_id) -> Notification:
    return notification_order_confirmed(event_id=uuid.uuid4(), user_id=user_id, order_id=uuid.uuid4(),
                                        total_minor=4299, currency="EUR")


def _make_due(notification: Notification) -> None:
    Notification.objects.filter(pk=notification.pk).update(next_attempt_at=timezone.now() - dt.timedelta(seconds=1))


def test_a_failed_mail_is_sent_again_once_smtp_is_back(user, smtp_down):
    failed = _confirmed(user.id)
    assert (failed.status, failed.attempts) == (Notification.Status.FAILED, 1)
    assert failed.next_attempt_at > timezone.now()  # backoff: not at once
    assert notifications_due(now=timezone.now()) == []

    smtp_down.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    _make_due(failed)
    assert notifications_due(now=timezone.now()) == [failed.pk]
    sent = notification_resend(notification_id=failed.pk)
    assert (sent.status, sent.attempts, sent.next_attempt_at) == (Notification.Status.SENT, 2, None)
    assert len(mail.outbox) == 1 and "42.99 EUR" in mail.outbox[0].body  # the first attempt's mail, whole
    assert notification_resend(notification_id=failed.pk).status == Notification.Status.SENT
    assert len(mail.outbox) == 1  # sent is final: no second mail


def test_retries_are_bounded_with_growing_backoff(user, smtp_down):
    notification = _confirmed(user.id)
    delays = []
    for attempt in range(2, MAX_ATTEMPTS + 1):
        _make_due(notification)
        before = timezone.now()
        notification = notification_resend(notification_id=notification.pk)
        assert notification.attempts == attempt and notification.status == Notification.Status.FAILED
        if notification.next_attempt_at is not None:
            delays.append((notification.next_attempt_at - before).total_seconds())
    assert notification.next_attempt_at is None  # gave up after MAX_ATTEMPTS
    assert delays == sorted(delays) and delays[0] < delays[-1]
    assert notifications_due(now=timezone.now() + dt.timedelta(days=30)) == []
    assert notification_resend(notification_id=notification.pk).attempts == MAX_ATTEMPTS


def test_an_unknown_user_is_not_retried():
    notification = _confirmed(uuid.uuid4())
    assert notification.status == Notification.Status.FAILED and notification.next_attempt_at is None
    assert mail.outbox == []
