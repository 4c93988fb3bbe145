"""Transactional outbox: events are written with the state change and published after commit."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from strangler.django import tracing
from strangler.django.events import Event, event_envelope
from strangler.django.outbox import acks
from strangler.django.outbox.models import OutboxMessage

logger = logging.getLogger(__name__)

Publisher = Callable[[dict[str, Any]], None]


def outbox_add(*, event: Event) -> OutboxMessage:
    """Record ``event`` in the caller's transaction; nothing leaves the process until commit."""
    if not connection.in_atomic_block:
        raise RuntimeError("outbox_add must run inside the transaction that changes the state")
    envelope = event_envelope(event)
    trace = tracing.trace_context()  # None unless tracing is on and a span is current
    if trace is not None:
        envelope[tracing.TRACE_KEY] = trace  # the relay publishes under it (strangler.django.tracing)
    return OutboxMessage.objects.create(
        event_id=event.event_id, event_type=envelope["type"], envelope=envelope
    )


def outbox_queues(event_type: str) -> list[str]:
    """Where an event goes: ``OUTBOX_ROUTES[event_type]``, else ``OUTBOX_ROUTES["*"]``, else the
    project's own queue. An empty list means nobody outside listens: the event is only recorded."""
    routes = getattr(settings, "OUTBOX_ROUTES", {})
    if event_type in routes:
        return list(routes[event_type])
    if "*" in routes:
        return list(routes["*"])
    return [settings.CELERY_TASK_DEFAULT_QUEUE]


def celery_publisher(envelope: dict[str, Any]) -> None:
    """Send the envelope to the ``kernel.dispatch_event`` task of every queue that wants it, each
    delivery acknowledgeable (strangler.django.outbox.acks).

    Several queues are sent one after the other; a failure part-way republishes to all of them
    next round, which the consumers' inboxes absorb."""
    for queue in outbox_queues(envelope["type"]):
        acks.celery_queue_publisher(envelope, queue)


def outbox_publish_pending(*, publish: Publisher = celery_publisher, batch_size: int = 100,
                           on_broker_error: Callable[[], None] | None = None) -> int:
    """Publish a batch of pending messages; returns how many went out.

    A crash between publish and the update below publishes a message twice; consumers dedupe
    through the inbox, so at-least-once here is exactly-once in effect. ``on_broker_error`` hears
    of a failed publish (the relay's OutageReplay, strangler/django/outbox/replay.py).
    """
    sent = 0
    with transaction.atomic():
        rows = OutboxMessage.objects.filter(published_at__isnull=True).order_by("id")
        if connection.features.has_select_for_update_skip_locked:
            rows = rows.select_for_update(skip_locked=True)
        for message in rows[:batch_size]:
            try:
                with tracing.outbox_publish_span(message.envelope):
                    publish(message.envelope)
            except Exception:  # broker down: keep the row pending, try again next round
                logger.warning("outbox publish failed for %s; will retry", message.event_id, exc_info=True)
                OutboxMessage.objects.filter(pk=message.pk).update(attempts=message.attempts + 1)
                if on_broker_error is not None:
                    on_broker_error()
                break
            OutboxMessage.objects.filter(pk=message.pk).update(
                published_at=timezone.now(), attempts=message.attempts + 1
            )
            acks.deliveries_record(message_id=message.pk, queues=outbox_queues(message.event_type))
            sent += 1
    return sent


def outbox_pending_count() -> int:
    return OutboxMessage.objects.filter(published_at__isnull=True).count()
