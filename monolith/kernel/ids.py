"""Identifiers shared across contexts: every cross-context reference is a UUID."""

import uuid


def new_id() -> uuid.UUID:
    return uuid.uuid4()
