"""Celery tasks of the event plumbing: dispatch an envelope to local consumers, relay the outbox.

The task names are the wire names every project of a cutover shares (the monolith's relay sends
``kernel.dispatch_event`` to the service's queue and back), so they stay as they are."""

import logging
from typing import Any

from celery import shared_task

from strangler.django import tracing
from strangler.django.outbox import acks, bus, failures, services

logger = logging.getLogger(__name__)

# Retries of the whole delivery when this project's own database fails (not a consumer): backoff
# 1, 2, 4 ... 60 s, then the delivery stays unacknowledged and its publisher sends it again later.
DISPATCH_MAX_RETRIES = 12


@shared_task(name="kernel.dispatch_event", bind=True, max_retries=DISPATCH_MAX_RETRIES, acks_late=True)
def dispatch_event(self, envelope: dict[str, Any], ack: dict[str, Any] | None = None) -> int:
    """Run this project's consumers of the envelope, each on its own; record a failing one for its
    own retries (strangler.django.outbox.failures); then acknowledge to the publisher (``ack``,
    strangler.django.outbox.acks): from here on the event is safe in this project's database."""
    try:
        with tracing.dispatch_span(envelope):
            ran, failed = bus.dispatch_each(envelope)
        for consumer, error in failed.items():
            failures.consumer_failure_record(envelope=envelope, consumer=consumer, error=error)
    except Exception as exc:
        if self.request.retries < self.max_retries:
            raise self.retry(exc=exc, countdown=min(2 ** min(self.request.retries, 6), 60)) from exc
        logger.error("event %s not dispatched after %d attempts (%r); left unacknowledged for its publisher "
                     "to send again", envelope.get("event_id"), self.request.retries + 1, exc)
        raise
    acks.ack_send(event_id=str(envelope.get("event_id")), ack=ack)
    return ran


@shared_task(name=failures.RETRY_TASK, acks_late=True)
def consumer_retry(failure_id: int) -> str:
    failure = failures.consumer_retry(failure_id=failure_id)
    return "applied" if failure is None else ("dead" if failure.dead else "retrying")


@shared_task(name=acks.ACK_TASK)
def ack_delivery(event_id: str, queue: str) -> int:
    return acks.delivery_ack(event_id=event_id, queue=queue)


@shared_task(name="kernel.relay_outbox")
def relay_outbox() -> int:
    return services.outbox_publish_pending()
