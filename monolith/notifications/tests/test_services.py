import uuid

import pytest
from django.core import mail

from monolith.notifications.models import Notification
from monolith.notifications.selectors import notification_get_for_event
from monolith.notifications.services import notification_order_confirmed, notification_send

pytestmark = pytest.mark.django_db


def test_send_is_idempotent_per_event_even_without_the_inbox(user):
    event_id = uuid.uuid4()
    first = notification_send(event_id=event_id, user_id=user.id, kind="order_confirmed", subject="s", body="b")
    second = notification_send(event_id=event_id, user_id=user.id, kind="order_confirmed", subject="s", body="b")
    assert first.pk == second.pk
    assert len(mail.outbox) == 1
    assert notification_get_for_event(event_id=event_id).status == Notification.Status.SENT


def test_a_failed_notification_is_not_retried_by_a_second_call(user, settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_TIMEOUT = "127.0.0.1", 1, 2
    event_id = uuid.uuid4()
    args = {"event_id": event_id, "user_id": user.id, "order_id": uuid.uuid4(), "total_minor": 100, "currency": "EUR"}
    assert notification_order_confirmed(**args).status == Notification.Status.FAILED
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    assert notification_order_confirmed(**args).status == Notification.Status.FAILED
    assert mail.outbox == []
    assert Notification.objects.count() == 1


def test_mail_comes_from_the_configured_sender(user, settings):
    settings.DEFAULT_FROM_EMAIL = "orders@shop.example"
    notification_send(event_id=uuid.uuid4(), user_id=user.id, kind="order_confirmed", subject="s", body="b")
    assert mail.outbox[0].from_email == "orders@shop.example"
