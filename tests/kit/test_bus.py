import uuid

import pytest
from django.db import IntegrityError

from strangler.django.outbox import bus
from strangler.django.outbox.models import InboxMessage
from strangler.django.outbox.tasks import dispatch_event

pytestmark = pytest.mark.django_db


def _envelope(event_type="tests.Happened"):
    return {"type": event_type, "event_id": str(uuid.uuid4()), "occurred_at": "2026-01-01T00:00:00+00:00",
            "version": 1, "payload": {"n": 1}}


def test_dispatch_runs_each_consumer_once_per_event(registry):
    calls = []
    bus.subscribe("tests.Happened", consumer="a")(lambda e: calls.append(("a", e["event_id"])))
    bus.subscribe("tests.Happened", consumer="b")(lambda e: calls.append(("b", e["event_id"])))
    envelope = _envelope()

    assert bus.dispatch(envelope) == 2
    assert bus.dispatch(envelope) == 0
    assert bus.dispatch(dict(envelope)) == 0

    assert sorted(calls) == [("a", envelope["event_id"]), ("b", envelope["event_id"])]
    assert set(InboxMessage.objects.values_list("consumer", flat=True)) == {"a", "b"}


def test_dispatch_ignores_events_nobody_subscribed_to(registry):
    assert bus.dispatch(_envelope("tests.Nobody")) == 0
    assert not InboxMessage.objects.exists()


def test_subscribing_the_same_consumer_twice_registers_it_once(registry):
    handler = lambda e: None  # noqa: E731
    bus.subscribe("tests.Happened", consumer="a")(handler)
    bus.subscribe("tests.Happened", consumer="a")(handler)
    assert len(bus.subscribers("tests.Happened")) == 1


def test_failing_consumer_leaves_no_inbox_row_and_runs_again(registry):
    attempts = []

    def flaky(envelope):
        attempts.append(1)
        if len(attempts) == 1:
            raise ConnectionError("downstream hiccup")

    bus.subscribe("tests.Happened", consumer="flaky")(flaky)
    envelope = _envelope()
    with pytest.raises(ConnectionError):
        bus.dispatch(envelope)
    assert not InboxMessage.objects.exists()
    assert bus.dispatch(envelope) == 1
    assert len(attempts) == 2
    assert InboxMessage.objects.count() == 1


def test_failing_consumer_rolls_back_its_own_writes(registry):
    def writes_then_fails(envelope):
        InboxMessage.objects.create(event_id=uuid.uuid4(), consumer="side-effect", event_type="x")
        raise ValueError("boom")

    bus.subscribe("tests.Happened", consumer="w")(writes_then_fails)
    with pytest.raises(ValueError):
        bus.dispatch(_envelope())
    assert not InboxMessage.objects.exists()


def test_dispatch_event_task_runs_the_bus(registry):
    seen = []
    bus.subscribe("tests.Happened", consumer="t")(seen.append)
    envelope = _envelope()
    assert dispatch_event.apply(args=[envelope]).get() == 1
    assert dispatch_event.apply(args=[envelope]).get() == 0
    assert seen == [envelope]



def test_an_integrity_error_in_the_handler_is_a_failure_not_a_duplicate(registry):
    def clashes(envelope):
        InboxMessage.objects.create(event_id=envelope["event_id"], consumer="other", event_type="x")
        InboxMessage.objects.create(event_id=envelope["event_id"], consumer="other", event_type="x")

    bus.subscribe("tests.Happened", consumer="c")(clashes)
    envelope = _envelope()
    with pytest.raises(IntegrityError):
        bus.dispatch(envelope)
    assert not InboxMessage.objects.exists()  # nothing recorded: the retry will run it again
