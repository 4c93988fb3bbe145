"""Reads of the users context."""

from __future__ import annotations

import uuid

from monolith.users.models import User


def user_get(*, user_id: uuid.UUID) -> User | None:
    return User.objects.filter(pk=user_id).first()


def user_get_by_email(*, email: str) -> User | None:
    """Emails are stored lower-cased (see UserManager), so the lookup lower-cases too."""
    return User.objects.filter(email=email.strip().lower()).first()
