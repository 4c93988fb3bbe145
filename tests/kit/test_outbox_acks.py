"""Acknowledged delivery's bookkeeping (strangler.django.outbox.acks): a published event waits for
one ack per queue; what stays unacknowledged is sent again to that queue only, later each time;
an ack is idempotent. The loss cases themselves run with real Redis restarts in
tests/test_outbox_acks.py."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from strangler.django.outbox import acks
from strangler.django.outbox.models import OutboxDelivery
from strangler.django.outbox.services import outbox_add, outbox_publish_pending
from tests.kit.test_outbox import Pinged

pytestmark = pytest.mark.django_db


def _due_now() -> None:
    OutboxDelivery.objects.update(resend_at=timezone.now() - dt.timedelta(seconds=1))


def test_unacknowledged_deliveries_are_sent_again_to_their_queue_only_later_each_time(settings):
    settings.OUTBOX_ROUTES = {"*": ["payments", "audit"]}
    settings.OUTBOX_ACK_TIMEOUT = 10
    message = outbox_add(event=Pinged(n=1))
    assert outbox_publish_pending(publish=lambda envelope: None) == 1
    assert sorted(OutboxDelivery.objects.values_list("queue", flat=True)) == ["audit", "payments"]
    assert acks.deliveries_resend_due(publish=lambda e, q: pytest.fail("nothing is due yet")) == 0

    assert acks.delivery_ack(event_id=str(message.event_id), queue="payments") == 1
    assert acks.delivery_ack(event_id=str(message.event_id), queue="payments") == 0  # twice: no change
    sent: list[str] = []
    _due_now()
    assert acks.deliveries_resend_due(publish=lambda envelope, queue: sent.append(queue)) == 1
    assert sent == ["audit"]
    audit = OutboxDelivery.objects.get(queue="audit")
    first_delay = audit.resend_at - audit.sent_at
    assert audit.sends == 2 and first_delay == dt.timedelta(seconds=20)
    _due_now()
    acks.deliveries_resend_due(publish=lambda envelope, queue: sent.append(queue))
    audit.refresh_from_db()
    assert audit.sends == 3 and audit.resend_at - audit.sent_at == dt.timedelta(seconds=40)
    assert acks.deliveries_overdue_count() == 1

    acks.delivery_ack(event_id=str(message.event_id), queue="audit")
    _due_now()
    assert acks.deliveries_resend_due(publish=lambda envelope, queue: sent.append(queue)) == 0
    assert acks.deliveries_overdue_count() == 0


def test_a_failed_resend_keeps_the_delivery_due(settings):
    settings.OUTBOX_ROUTES = {"*": ["audit"]}
    outbox_add(event=Pinged(n=2))
    outbox_publish_pending(publish=lambda envelope: None)
    _due_now()

    def down(envelope, queue):
        raise ConnectionError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")

    with pytest.raises(ConnectionError):
        acks.deliveries_resend_due(publish=down)
    delivery = OutboxDelivery.objects.get()
    assert delivery.sends == 1 and delivery.resend_at <= timezone.now()


def test_an_envelope_from_a_relay_that_asks_for_no_ack_is_not_acknowledged(monkeypatch, settings):
    from monolith.config.celery import app

    calls = []
    monkeypatch.setattr(app, "send_task", lambda *a, **k: calls.append((a, k)))
    acks.ack_send(event_id="e", ack=None)
    acks.ack_send(event_id="e", ack={"to": 3})
    assert calls == []
    acks.ack_send(event_id="e", ack={"to": "monolith", "as": "payments"})
    assert calls == [((acks.ACK_TASK,), {"args": ["e", "payments"], "queue": "monolith"})]
