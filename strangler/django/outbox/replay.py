"""Re-publish what a broker outage may have swallowed.

kombu's Redis transport takes a message off its queue (BRPOP) and records it as unacknowledged in
a second command. A worker that loses the broker between the two drops the message, and nothing
ever redelivers it (the cutover acceptance run lost one confirmation mail in ~1,700 events that
way when Redis stopped). The relay cannot see that loss, but it sees the outage: a publish fails.
It notes when, and once publishing works again it re-publishes every event it had published from
``window`` before the outage on. Consumers keep event ids in their inbox, so whatever did arrive
is skipped; only what was lost has an effect.
"""

from __future__ import annotations

import datetime as dt
import logging

from django.conf import settings
from django.utils import timezone

from strangler.django.outbox.models import OutboxMessage
from strangler.django.outbox.services import Publisher, celery_publisher

logger = logging.getLogger(__name__)

DEFAULT_WINDOW = 60.0  # seconds: longer than an event waits in a queue before a worker takes it


def outbox_republish(*, since: dt.datetime, publish: Publisher = celery_publisher, batch_size: int = 500) -> int:
    """Publish again every message published at or after ``since``, oldest first; a publish that
    fails raises (the caller tries again later). Returns how many went out."""
    sent, last_id = 0, 0
    while True:
        batch = list(OutboxMessage.objects.filter(published_at__gte=since, id__gt=last_id)
                     .order_by("id").values_list("id", "envelope")[:batch_size])
        for message_id, envelope in batch:
            publish(envelope)
            sent, last_id = sent + 1, message_id
        if len(batch) < batch_size:
            return sent


class OutageReplay:
    """The relay's memory of a broker outage, until what it may have swallowed is sent again."""

    def __init__(self, *, window: float | None = None, publish: Publisher = celery_publisher) -> None:
        seconds = getattr(settings, "OUTBOX_REPLAY_WINDOW", DEFAULT_WINDOW) if window is None else window
        self.window = dt.timedelta(seconds=float(seconds))
        self.publish = publish
        self.outage_since: dt.datetime | None = None
        self._failed = False

    def broker_failed(self) -> None:
        """A publish failed in this round (``outbox_publish_pending(on_broker_error=...)``)."""
        self._failed = True
        if self.outage_since is None:
            self.outage_since = timezone.now()
            logger.warning("broker unreachable: events published since %s will be sent again once it is back",
                           self.outage_since - self.window)

    def after_round(self) -> int:
        """Once a round published without a failure, re-publish the window; returns how many."""
        failed, self._failed = self._failed, False
        if self.outage_since is None or failed:
            return 0
        since = self.outage_since - self.window
        try:
            count = outbox_republish(since=since, publish=self.publish)
        except Exception:  # the broker went again: keep the outage, try next round
            logger.warning("re-publishing after the outage failed; will retry", exc_info=True)
            return 0
        self.outage_since = None
        logger.warning("broker back: re-published %d events published since %s (inboxes skip the ones "
                       "that had arrived)", count, since)
        return count
