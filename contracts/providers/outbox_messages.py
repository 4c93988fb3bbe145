"""The messages a provider publishes, as the verifier asks for them by the pact's description.

The provider state has already run the real write (<provider>/states.py), which put the event in
the outbox in the same transaction; the message is that outbox row's envelope, byte for byte what
the relay would hand to the broker. Nothing here builds an event by hand. Which row: the newest of
the event's type whose subject (read from the payload by the provider) is the one the
interaction's provider state names.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from django.db import connections
from pact.types import Message

from strangler.django.outbox.models import OutboxMessage

Producer = Callable[[dict[str, Any] | None], Message]
Subject = Callable[[dict[str, Any]], object]  # an envelope's payload -> the id it is about


class MessageNotPublished(LookupError):
    """The provider state ran, but no such event is in the outbox."""


def _state_param(metadata: dict[str, Any] | None, name: str) -> str:
    """The parameter ``name`` of the interaction's provider state."""
    for state in (metadata or {}).get("providerStates") or []:
        value = (state.get("params") or {}).get(name)
        if value:
            return str(value)
    raise MessageNotPublished(f"the interaction's provider state names no {name}")


def outbox_latest(event_type: str, *, subject: Subject, subject_id: str) -> dict[str, Any]:
    """The newest envelope of ``event_type`` about ``subject_id`` in the outbox."""
    try:
        for message in OutboxMessage.objects.filter(event_type=event_type).order_by("-id"):
            if str(subject(message.envelope.get("payload") or {})) == subject_id:
                return message.envelope
    finally:
        connections.close_all()  # pact-python's thread: give the connection back
    raise MessageNotPublished(f"no {event_type} about {subject_id} in the outbox")


def outbox_producer(event_type: str, *, param: str, subject: Subject) -> Producer:
    """The message of ``event_type`` about the id the provider state's ``param`` names."""

    def produce(metadata: dict[str, Any] | None = None) -> Message:
        envelope = outbox_latest(event_type, subject=subject, subject_id=_state_param(metadata, param))
        return Message(contents=json.dumps(envelope).encode(), metadata={"contentType": "application/json"},
                       content_type="application/json")
    return produce
