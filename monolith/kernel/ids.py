"""Identifiers shared across contexts: every cross-context reference is a UUID.

Ids derived from idempotency keys are the same in every store that computes them, so a retry
that lands on another service (during a strangler cutover) finds the first row instead of
creating a second one.
"""

import uuid

PAYMENT_ID_NAMESPACE = uuid.UUID("6f1c3b2a-4d5e-5f60-8a1b-2c3d4e5f6a70")
REFUND_ID_NAMESPACE = uuid.UUID("7a2d4c3b-5e6f-5071-9b2c-3d4e5f6a7b81")
EVENT_ID_NAMESPACE = uuid.UUID("8b3e5d4c-6f70-5182-ac3d-4e5f6a7b8c92")


def new_id() -> uuid.UUID:
    return uuid.uuid4()


def id_from_key(namespace: uuid.UUID, key: str) -> uuid.UUID:
    return uuid.uuid5(namespace, key)


def event_id_for(type_name: str, subject_id: uuid.UUID) -> uuid.UUID:
    """The id of the one event of ``type_name`` about ``subject_id``, whoever publishes it."""
    return uuid.uuid5(EVENT_ID_NAMESPACE, f"{type_name}:{subject_id}")
