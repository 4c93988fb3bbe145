"""Acknowledged delivery: a published event counts as delivered to a queue only once that queue's
worker says it dispatched it. Until then the relay sends it again, with a growing delay.

Why: the outbox guarantees that an event reaches the broker, not that the broker keeps it. A Redis
restart without its data, a message taken off the queue just as the broker went away (kombu's Redis
transport records it as unacknowledged in a second command), a retry waiting in the broker: each
can vanish with no failed publish for the relay to see. The outage replay
(strangler.django.outbox.replay) covers the common case at once; this covers every case, late.

How: the relay publishes ``kernel.dispatch_event`` with ``ack={"to": <its own queue>, "as": <the
destination queue>}``; the consumer's worker, once the envelope is dispatched (or dead-lettered),
sends ``kernel.ack_delivery(event_id, queue)`` to the producer's queue, which marks the delivery.
The relay re-sends what stays unacknowledged after ``OUTBOX_ACK_TIMEOUT`` (600 s by default: longer
than a failing dispatch's retries, so a poison message is not multiplied), then after twice that,
up to ``MAX_RESEND_DELAY``. Consumers' inboxes skip the copies that had arrived; a lost ack only
causes one more copy, acknowledged again.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.module_loading import import_string

from strangler.django.outbox.models import OutboxDelivery

logger = logging.getLogger(__name__)

DEFAULT_ACK_TIMEOUT = 600.0  # seconds; above the ~8 minutes of a failing dispatch's retries
MAX_RESEND_DELAY = dt.timedelta(hours=1)
ACK_TASK = "kernel.ack_delivery"
DISPATCH_TASK = "kernel.dispatch_event"

QueuePublisher = Callable[[dict[str, Any], str], None]


def ack_timeout() -> dt.timedelta:
    return dt.timedelta(seconds=float(getattr(settings, "OUTBOX_ACK_TIMEOUT", DEFAULT_ACK_TIMEOUT)))


def ack_address(queue: str) -> dict[str, str]:
    """What a delivery to ``queue`` carries so its worker can acknowledge it to this project."""
    return {"to": settings.CELERY_TASK_DEFAULT_QUEUE, "as": queue}


def celery_queue_publisher(envelope: dict[str, Any], queue: str) -> None:
    """Send one envelope to one queue's dispatch task, acknowledgeable."""
    app = import_string(settings.OUTBOX_CELERY_APP)
    app.send_task(DISPATCH_TASK, args=[envelope], kwargs={"ack": ack_address(queue)}, queue=queue)


def deliveries_record(*, message_id: int, queues: list[str]) -> None:
    """A message was just published to ``queues``: each delivery waits for its ack from now."""
    now = timezone.now()
    OutboxDelivery.objects.bulk_create(
        [OutboxDelivery(message_id=message_id, queue=q, sent_at=now, resend_at=now + ack_timeout()) for q in queues],
        ignore_conflicts=True,  # published again after a crash: the first record stands
    )


def delivery_ack(*, event_id: str, queue: str) -> int:
    """The worker of ``queue`` dispatched ``event_id``: the delivery is done and its row goes; returns
    how many went (0: acknowledged before, or unknown here)."""
    return OutboxDelivery.objects.filter(message__event_id=event_id, queue=queue).delete()[0]


def ack_send(*, event_id: str, ack: dict[str, Any] | None) -> None:
    """Acknowledge a dispatched envelope to the project that published it. A failure is only logged:
    the producer then sends the event again and this worker acknowledges the copy."""
    if not isinstance(ack, dict) or not isinstance(ack.get("to"), str) or not isinstance(ack.get("as"), str):
        return  # published by a relay that asks for no acknowledgement
    try:
        app = import_string(settings.OUTBOX_CELERY_APP)
        app.send_task(ACK_TASK, args=[event_id, ack["as"]], queue=ack["to"])
    except Exception:  # noqa: BLE001 - the broker is down: a re-send will come
        logger.warning("could not acknowledge event %s to %s; it will be sent again", event_id, ack["to"],
                       exc_info=True)


def deliveries_resend_due(*, publish: QueuePublisher = celery_queue_publisher, batch_size: int = 100) -> int:
    """Send again each unacknowledged delivery whose time has come; returns how many went out. A
    publish that fails stops the round (the broker is down; the next round tries again)."""
    now = timezone.now()
    due = list(OutboxDelivery.objects.filter(resend_at__lte=now)
               .select_related("message").order_by("resend_at")[:batch_size])
    sent = 0
    for delivery in due:
        publish(delivery.message.envelope, delivery.queue)  # no transaction is open: a network call
        delay = min(ack_timeout() * 2 ** delivery.sends, MAX_RESEND_DELAY)
        with transaction.atomic():
            OutboxDelivery.objects.filter(pk=delivery.pk).update(
                sent_at=now, sends=delivery.sends + 1, resend_at=now + delay)
        sent += 1
    if sent:
        logger.warning("re-sent %d unacknowledged deliveries (their consumers' inboxes skip any copy that "
                       "had arrived)", sent)
    return sent


def deliveries_overdue_count() -> int:
    """Deliveries sent at least twice and still unacknowledged: a consumer that is down or losing them."""
    return OutboxDelivery.objects.filter(sends__gt=1).count()
