"""After a broker outage the relay sends the events of the outage window again (OutageReplay)."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from strangler.django.outbox.models import OutboxMessage
from strangler.django.outbox.replay import OutageReplay, outbox_republish
from strangler.django.outbox.services import outbox_add, outbox_publish_pending
from tests.kit.test_outbox import Pinged


class Broker:
    """Records what is published; ``down`` makes every publish fail as a refused connection would."""

    def __init__(self) -> None:
        self.down = False
        self.sent: list[int] = []

    def __call__(self, envelope: dict) -> None:
        if self.down:
            raise ConnectionError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")
        self.sent.append(envelope["payload"]["n"])


@pytest.mark.django_db
def test_events_published_around_an_outage_are_sent_again_once_the_broker_is_back():
    broker = Broker()
    replay = OutageReplay(window=60, publish=broker)
    for n in range(3):
        outbox_add(event=Pinged(n=n))
    assert outbox_publish_pending(publish=broker, on_broker_error=replay.broker_failed) == 3
    assert replay.after_round() == 0  # no outage: nothing is sent twice
    # a message published long before the outage is outside the window
    OutboxMessage.objects.filter(envelope__payload__n=0).update(published_at=timezone.now() - dt.timedelta(hours=1))

    broker.down = True
    outbox_add(event=Pinged(n=3))
    assert outbox_publish_pending(publish=broker, on_broker_error=replay.broker_failed) == 0
    assert replay.outage_since is not None
    assert replay.after_round() == 0  # still down this round: wait

    broker.down = False
    assert outbox_publish_pending(publish=broker, on_broker_error=replay.broker_failed) == 1
    assert replay.after_round() == 3  # 1 and 2 (in flight when it went down) and 3, again
    assert broker.sent == [0, 1, 2, 3, 1, 2, 3]
    assert replay.outage_since is None
    assert replay.after_round() == 0


@pytest.mark.django_db
def test_a_replay_that_fails_is_tried_again_next_round():
    broker = Broker()
    replay = OutageReplay(window=60, publish=broker)
    outbox_add(event=Pinged(n=1))
    assert outbox_publish_pending(publish=broker) == 1
    replay.broker_failed()
    replay.after_round()  # the round that saw the failure
    broker.down = True
    assert replay.after_round() == 0 and replay.outage_since is not None
    broker.down = False
    assert replay.after_round() == 1 and broker.sent == [1, 1]


@pytest.mark.django_db
def test_republish_pages_through_everything_since_in_order():
    for n in range(7):
        outbox_add(event=Pinged(n=n))
    outbox_publish_pending(publish=lambda e: None)
    sent: list[int] = []
    since = timezone.now() - dt.timedelta(minutes=1)
    assert outbox_republish(since=since, publish=lambda e: sent.append(e["payload"]["n"]), batch_size=3) == 7
    assert sent == list(range(7))
