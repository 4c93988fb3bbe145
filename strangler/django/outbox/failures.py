"""A consumer that fails does not hold back the event's other consumers, and is not retried forever.

The dispatch task runs every consumer of an envelope on its own (strangler.django.outbox.bus); one
that raises is recorded here, in this project's database, and the delivery is acknowledged: the
event is safe in the database from then on, whatever the broker does. The relay sends each due
failure to ``kernel.consumer_retry`` (one consumer, one envelope); a retry that fails again waits
longer (2, 4, 8 ... up to 300 s). After MAX_ATTEMPTS attempts, or at once when the consumer raised
``Unprocessable`` (a malformed envelope, a snapshot that fails validation: retrying cannot help),
the failure becomes a dead letter: ``next_attempt_at`` None, listed by ``manage.py
strangler_dead_letters``, which can retry (``--retry``) or discard (``--discard``) it, and counted
in the kit status (the dashboard's "Needs a person").
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.module_loading import import_string

from strangler.django.outbox import bus
from strangler.django.outbox.models import ConsumerFailure

logger = logging.getLogger(__name__)

MAX_ATTEMPTS = 12  # with the backoff below: about 25 minutes from the first failure to a dead letter
FIRST_DELAY = 2.0  # seconds; doubled per attempt
MAX_DELAY = 300.0
LEASE = dt.timedelta(seconds=120)  # a retry handed to a worker is not handed out again before this
RETRY_TASK = "kernel.consumer_retry"
_ERROR_MAX = 4000

RetryPublisher = Callable[[int], None]


def _delay(attempts: int) -> dt.timedelta:
    return dt.timedelta(seconds=min(FIRST_DELAY * 2 ** (attempts - 1), MAX_DELAY))


def _error_text(error: BaseException) -> str:
    return f"{type(error).__name__}: {error}"[:_ERROR_MAX]


def _next_attempt(attempts: int, error: BaseException, now: dt.datetime) -> dt.datetime | None:
    if isinstance(error, bus.Unprocessable) or attempts >= MAX_ATTEMPTS:
        return None
    return now + _delay(attempts)


def consumer_failure_record(*, envelope: dict[str, Any], consumer: str, error: BaseException) -> ConsumerFailure:
    """The first failure of ``consumer`` on ``envelope`` (a redelivery's is the same row, unchanged)."""
    now = timezone.now()
    failure = ConsumerFailure(
        event_id=envelope["event_id"], event_type=str(envelope.get("type", ""))[:120], consumer=consumer,
        envelope=envelope, error=_error_text(error), attempts=1, first_failed_at=now, last_failed_at=now,
        next_attempt_at=_next_attempt(1, error, now))
    try:
        with transaction.atomic():
            failure.save(force_insert=True)
    except IntegrityError:  # a redelivered copy failed too: the row already tracks it
        return ConsumerFailure.objects.get(event_id=envelope["event_id"], consumer=consumer)
    log = logger.error if failure.dead else logger.warning
    log("consumer %s failed on %s %s (%s); %s", consumer, failure.event_type, failure.event_id, failure.error,
        "dead letter: it cannot be applied" if failure.dead else f"retry at {failure.next_attempt_at:%H:%M:%S}")
    return failure


def consumer_retry(*, failure_id: int) -> ConsumerFailure | None:
    """Run the failed consumer again; None when it succeeded (the row is gone) or nothing was left to do."""
    failure = ConsumerFailure.objects.filter(pk=failure_id, next_attempt_at__isnull=False).first()
    if failure is None:
        return None  # succeeded meanwhile, discarded, or dead
    try:
        bus.dispatch_one(failure.envelope, failure.consumer)
    except Exception as exc:  # noqa: BLE001 - the consumer's error is recorded, never raised
        now = timezone.now()
        failure.attempts += 1
        failure.error, failure.last_failed_at = _error_text(exc), now
        failure.next_attempt_at = _next_attempt(failure.attempts, exc, now)
        failure.save(update_fields=["attempts", "error", "last_failed_at", "next_attempt_at"])
        if failure.dead:
            logger.error("consumer %s on %s %s is a dead letter after %d attempts: %s", failure.consumer,
                         failure.event_type, failure.event_id, failure.attempts, failure.error)
        return failure
    ConsumerFailure.objects.filter(pk=failure.pk).delete()
    logger.info("consumer %s applied %s %s at attempt %d", failure.consumer, failure.event_type, failure.event_id,
                failure.attempts + 1)
    return None


def celery_retry_publisher(failure_id: int) -> None:
    app = import_string(settings.OUTBOX_CELERY_APP)
    app.send_task(RETRY_TASK, args=[failure_id], queue=settings.CELERY_TASK_DEFAULT_QUEUE)


def consumer_retries_send_due(*, publish: RetryPublisher = celery_retry_publisher, batch_size: int = 100) -> int:
    """Hand each due failure to a worker (the relay's round); a retry lost on the way is due again
    after LEASE. A publish that fails stops the round. Returns how many went out."""
    now = timezone.now()
    due = list(ConsumerFailure.objects.filter(next_attempt_at__lte=now).order_by("next_attempt_at")
               .values_list("pk", flat=True)[:batch_size])
    sent = 0
    for failure_id in due:
        claimed = ConsumerFailure.objects.filter(pk=failure_id, next_attempt_at__lte=now).update(
            next_attempt_at=now + LEASE)
        if claimed:
            publish(failure_id)
            sent += 1
    return sent


def dead_letters_retry(*, ids: list[int] | None) -> int:
    """Give dead letters (all when ``ids`` is None) a fresh round of attempts, starting now."""
    rows = ConsumerFailure.objects.filter(next_attempt_at__isnull=True)
    if ids is not None:
        rows = rows.filter(pk__in=ids)
    return rows.update(next_attempt_at=timezone.now(), attempts=0)


def dead_letters_discard(*, ids: list[int] | None) -> int:
    rows = ConsumerFailure.objects.filter(next_attempt_at__isnull=True)
    if ids is not None:
        rows = rows.filter(pk__in=ids)
    return rows.delete()[0]


def dead_letters_count() -> int:
    return ConsumerFailure.objects.filter(next_attempt_at__isnull=True).count()


def consumers_retrying_count() -> int:
    return ConsumerFailure.objects.filter(next_attempt_at__isnull=False).count()
