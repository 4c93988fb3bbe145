"""Celery tasks of the event plumbing: dispatch an envelope to local consumers, relay the outbox."""

from typing import Any

from celery import shared_task

from monolith.kernel import bus, idempotency, outbox, tracing


@shared_task(name="kernel.dispatch_event", bind=True, max_retries=None, acks_late=True)
def dispatch_event(self, envelope: dict[str, Any]) -> int:
    try:
        with tracing.dispatch_span(envelope):
            return bus.dispatch(envelope)
    except Exception as exc:
        raise self.retry(exc=exc, countdown=min(2 ** min(self.request.retries, 6), 60)) from exc


@shared_task(name="kernel.relay_outbox")
def relay_outbox() -> int:
    return outbox.outbox_publish_pending()


@shared_task(name="kernel.idempotency_purge")
def idempotency_purge() -> int:
    return idempotency.idempotency_purge()
