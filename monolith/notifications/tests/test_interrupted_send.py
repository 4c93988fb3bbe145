"""A mail is claimed before it is sent: a second delivery of the same event while the first is
still sending sends nothing, and a send cut short by a crash is an unknown outcome that the resend
sweep finishes once its claim has run out, as the same message (one Message-ID per notification)."""

import datetime as dt
import uuid

import pytest
from django.core import mail
from django.core.mail.backends.locmem import EmailBackend
from django.utils import timezone

from monolith.notifications.models import Notification
from monolith.notifications.selectors import notifications_due
from monolith.notifications.services import CLAIM_SECONDS, notification_resend, notification_send

pytestmark = pytest.mark.django_db

BACKEND = f"{__name__}.{{}}"


class WorkerKilled(BaseException):
    """What the worker's death looks like from inside the send: nothing after it runs."""


class SecondDeliveryMidSend(EmailBackend):
    """While this mail is on its way, a redelivered copy of the same event is handled (another
    worker thread took it after the broker's visibility timeout)."""

    event: dict = {}

    def send_messages(self, messages):
        sent = super().send_messages(messages)
        if self.event:
            event, SecondDeliveryMidSend.event = self.event, {}
            notification_send(**event)
        return sent


class DiesAfterSending(EmailBackend):
    """The server took the mail, then the worker died before it recorded that."""

    def send_messages(self, messages):
        super().send_messages(messages)
        raise WorkerKilled


def _event(user) -> dict:
    return {"event_id": uuid.uuid4(), "user_id": user.id, "kind": "order_confirmed", "subject": "s", "body": "b"}


def test_a_second_delivery_while_the_first_is_sending_sends_nothing(user, settings):
    settings.EMAIL_BACKEND = BACKEND.format("SecondDeliveryMidSend")
    event = SecondDeliveryMidSend.event = _event(user)
    record = notification_send(**event)
    assert len(mail.outbox) == 1
    assert Notification.objects.get().status == record.status == Notification.Status.SENT


def test_a_send_cut_short_is_finished_by_the_sweep_as_the_same_message(user, settings):
    settings.EMAIL_BACKEND = BACKEND.format("DiesAfterSending")
    event = _event(user)
    with pytest.raises(WorkerKilled):
        notification_send(**event)
    claimed = Notification.objects.get()
    assert claimed.status == Notification.Status.SENDING

    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    assert notification_send(**event).status == Notification.Status.SENDING  # the redelivery sends nothing
    assert len(mail.outbox) == 1
    assert notifications_due(now=timezone.now()) == []  # not while the claim holds
    later = timezone.now() + dt.timedelta(seconds=CLAIM_SECONDS + 1)
    assert notifications_due(now=later) == [claimed.pk]

    Notification.objects.filter(pk=claimed.pk).update(next_attempt_at=timezone.now() - dt.timedelta(seconds=1))
    finished = notification_resend(notification_id=claimed.pk)
    assert (finished.status, finished.attempts) == (Notification.Status.SENT, 2)
    first, again = mail.outbox
    assert first.extra_headers["Message-ID"] == again.extra_headers["Message-ID"]
    assert str(claimed.pk) in first.extra_headers["Message-ID"]
