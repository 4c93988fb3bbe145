"""The event envelope every context publishes: past-tense dataclasses with id, time and version."""

from __future__ import annotations

import dataclasses
import datetime as dt
import uuid
from typing import Any, ClassVar


def _now() -> dt.datetime:
    return dt.datetime.now(tz=dt.UTC)


@dataclasses.dataclass(frozen=True, kw_only=True)
class Event:
    """Base of every domain event. Subclasses set ``type_name`` ("context.EventName")."""

    type_name: ClassVar[str] = ""
    event_id: uuid.UUID = dataclasses.field(default_factory=uuid.uuid4)
    occurred_at: dt.datetime = dataclasses.field(default_factory=_now)
    version: int = 1


_ENVELOPE_FIELDS = {"event_id", "occurred_at", "version"}


def _jsonable(value: Any) -> Any:
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, dt.datetime):
        return value.isoformat()
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    return value


def event_envelope(event: Event) -> dict[str, Any]:
    """The wire form: {"type", "event_id", "occurred_at", "version", "payload"}."""
    if not event.type_name:
        raise TypeError(f"{type(event).__name__} has no type_name")
    payload = {
        f.name: _jsonable(getattr(event, f.name))
        for f in dataclasses.fields(event)
        if f.name not in _ENVELOPE_FIELDS
    }
    return {
        "type": event.type_name,
        "event_id": str(event.event_id),
        "occurred_at": event.occurred_at.isoformat(),
        "version": event.version,
        "payload": payload,
    }
