"""Reads of the users context."""

from __future__ import annotations

import uuid

from rest_framework.authtoken.models import Token

from monolith.users.models import User


def user_get(*, user_id: uuid.UUID) -> User | None:
    return User.objects.filter(pk=user_id).first()


def user_get_by_email(*, email: str) -> User | None:
    """Emails are stored lower-cased (see UserManager), so the lookup lower-cases too."""
    return User.objects.filter(email=email.strip().lower()).first()


def user_id_by_token(*, token: str) -> uuid.UUID | None:
    """The id of the active user holding API token ``token``; None for an unknown token or an
    inactive user (exactly what DRF's TokenAuthentication would accept)."""
    return Token.objects.filter(key=token, user__is_active=True).values_list("user_id", flat=True).first()
