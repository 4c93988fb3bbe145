import dataclasses
import datetime as dt
import json
import uuid
from typing import ClassVar

import pytest

from strangler.django.events import Event, event_envelope


@dataclasses.dataclass(frozen=True, kw_only=True)
class ThingHappened(Event):
    type_name: ClassVar[str] = "tests.ThingHappened"
    thing_id: uuid.UUID
    amount_minor: int
    tags: tuple[str, ...] = ()
    when: dt.datetime | None = None


def test_envelope_shape_and_json_roundtrip():
    thing_id = uuid.uuid4()
    when = dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC)
    event = ThingHappened(thing_id=thing_id, amount_minor=42, tags=("a", "b"), when=when)

    envelope = event_envelope(event)

    assert set(envelope) == {"type", "event_id", "occurred_at", "version", "payload"}
    assert envelope["type"] == "tests.ThingHappened"
    assert envelope["event_id"] == str(event.event_id)
    assert dt.datetime.fromisoformat(envelope["occurred_at"]) == event.occurred_at
    assert envelope["occurred_at"].endswith("+00:00")
    assert envelope["version"] == 1
    assert envelope["payload"] == {"thing_id": str(thing_id), "amount_minor": 42, "tags": ["a", "b"],
                                   "when": "2026-01-02T03:04:05+00:00"}
    assert json.loads(json.dumps(envelope)) == envelope  # the wire form is plain JSON


def test_each_event_gets_its_own_id_and_events_are_frozen():
    a, b = ThingHappened(thing_id=uuid.uuid4(), amount_minor=1), ThingHappened(thing_id=uuid.uuid4(), amount_minor=1)
    assert a.event_id != b.event_id
    with pytest.raises(dataclasses.FrozenInstanceError):
        a.amount_minor = 2  # type: ignore[misc]


def test_event_without_type_name_is_refused():
    @dataclasses.dataclass(frozen=True, kw_only=True)
    class Nameless(Event):
        x: int = 0

    with pytest.raises(TypeError):
        event_envelope(Nameless())

