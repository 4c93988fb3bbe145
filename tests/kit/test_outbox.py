import dataclasses
import uuid
from io import StringIO
from typing import ClassVar

import pytest
from django.core.management import call_command
from django.db import transaction

from strangler.django.events import Event
from strangler.django.outbox.models import OutboxMessage
from strangler.django.outbox.services import outbox_add, outbox_pending_count, outbox_publish_pending


@dataclasses.dataclass(frozen=True, kw_only=True)
class Pinged(Event):
    type_name: ClassVar[str] = "tests.Pinged"
    n: int


@pytest.mark.django_db(transaction=True)
def test_outbox_add_refuses_outside_a_transaction():
    with pytest.raises(RuntimeError, match="inside the transaction"):
        outbox_add(event=Pinged(n=1))
    assert not OutboxMessage.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_outbox_add_rolls_back_with_the_transaction():
    with transaction.atomic():
        kept = outbox_add(event=Pinged(n=1))
    with pytest.raises(ZeroDivisionError), transaction.atomic():
        outbox_add(event=Pinged(n=2))
        1 / 0  # noqa: B018 - the state change fails after the event was written
    assert list(OutboxMessage.objects.values_list("event_id", flat=True)) == [kept.event_id]


@pytest.mark.django_db
def test_outbox_add_stores_the_envelope():
    event = Pinged(n=7)
    message = outbox_add(event=event)
    message.refresh_from_db()
    assert message.event_id == event.event_id
    assert message.event_type == "tests.Pinged"
    assert message.envelope["payload"] == {"n": 7}
    assert message.published_at is None and message.attempts == 0


@pytest.mark.django_db
def test_publish_pending_publishes_in_order_and_marks_published():
    events = [outbox_add(event=Pinged(n=i)) for i in range(3)]
    published = []

    assert outbox_publish_pending(publish=published.append) == 3

    assert [e["payload"]["n"] for e in published] == [0, 1, 2]
    assert outbox_pending_count() == 0
    for message in OutboxMessage.objects.filter(pk__in=[e.pk for e in events]):
        assert message.published_at is not None and message.attempts == 1
    assert outbox_publish_pending(publish=published.append) == 0  # nothing published twice
    assert len(published) == 3


@pytest.mark.django_db
def test_publish_pending_respects_batch_size():
    for i in range(5):
        outbox_add(event=Pinged(n=i))
    assert outbox_publish_pending(publish=lambda e: None, batch_size=2) == 2
    assert outbox_pending_count() == 3


@pytest.mark.django_db
def test_publisher_failure_keeps_rows_pending_and_counts_attempts():
    first, second = outbox_add(event=Pinged(n=1)), outbox_add(event=Pinged(n=2))

    def broker_down(envelope):
        raise ConnectionError("broker down")

    assert outbox_publish_pending(publish=broker_down) == 0
    first.refresh_from_db()
    second.refresh_from_db()
    assert first.published_at is None and first.attempts == 1
    assert second.published_at is None and second.attempts == 0  # the round stopped at the first failure
    assert outbox_pending_count() == 2

    assert outbox_publish_pending(publish=lambda e: None) == 2  # broker back: both go out
    assert outbox_pending_count() == 0


@pytest.mark.django_db
def test_publisher_failing_midway_keeps_the_rest_pending():
    messages = [outbox_add(event=Pinged(n=i)) for i in range(3)]
    seen = []

    def flaky(envelope):
        if envelope["payload"]["n"] == 1:
            raise ConnectionError("flaky")
        seen.append(envelope["payload"]["n"])

    assert outbox_publish_pending(publish=flaky) == 1
    states = {m.envelope["payload"]["n"]: m.published_at is not None for m in OutboxMessage.objects.all()}
    assert states == {0: True, 1: False, 2: False}
    assert seen == [0] and len(messages) == 3


@pytest.mark.django_db
def test_relay_command_publishes_pending_rows(monkeypatch):
    sent = []
    # The command uses the default publisher (Celery); swap it for a list, keyword-only default.
    from strangler.django.outbox import services as outbox

    monkeypatch.setitem(outbox.outbox_publish_pending.__kwdefaults__, "publish", sent.append)
    outbox_add(event=Pinged(n=1))
    out = StringIO()
    call_command("relay_outbox", stdout=out)
    assert [e["type"] for e in sent] == ["tests.Pinged"]
    assert outbox_pending_count() == 0
    assert "relay done: 1 published" in out.getvalue()


def test_celery_publisher_sends_the_dispatch_task_to_each_queue_of_the_event(monkeypatch, settings):
    from monolith.config.celery import app
    from strangler.django.outbox.services import celery_publisher

    calls = []
    monkeypatch.setattr(app, "send_task", lambda name, args, kwargs, queue: calls.append((name, args, kwargs["ack"], queue)))
    settings.OUTBOX_ROUTES = {"tests.Synced": ["payments", "audit"], "tests.Quiet": [], "*": ["monolith"]}
    pinged = {"type": "tests.Pinged", "event_id": str(uuid.uuid4()), "payload": {}}
    synced = {**pinged, "type": "tests.Synced"}
    for envelope in (pinged, synced, {**pinged, "type": "tests.Quiet"}):
        celery_publisher(envelope)
    # Each delivery says where its worker acknowledges it (this project's queue) and as which queue.
    back = settings.CELERY_TASK_DEFAULT_QUEUE
    assert calls == [("kernel.dispatch_event", [pinged], {"to": back, "as": "monolith"}, "monolith"),
                     ("kernel.dispatch_event", [synced], {"to": back, "as": "payments"}, "payments"),
                     ("kernel.dispatch_event", [synced], {"to": back, "as": "audit"}, "audit")]
