"""Writes of the users context: registration and token issue."""

from __future__ import annotations

from django.contrib.auth import authenticate
from django.contrib.auth.password_validation import (
    MinimumLengthValidator,
    get_default_password_validators,
    validate_password,
)
from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, transaction
from rest_framework.authtoken.models import Token

from monolith.kernel.errors import Conflict, DomainError, ValidationFailed
from monolith.kernel.outbox import outbox_add
from monolith.users.events import UserRegistered
from monolith.users.models import User

MIN_PASSWORD_LENGTH = 8


def _clean_email(email: str) -> str:
    email = (email or "").strip().lower()
    try:
        validate_email(email)
    except DjangoValidationError as exc:
        raise ValidationFailed("invalid email", fields={"email": list(exc.messages)}) from exc
    return email


def _check_password(password: str, *, email: str) -> None:
    # The project configures no AUTH_PASSWORD_VALIDATORS; without them Django accepts anything,
    # so fall back to a minimum length rather than allow "a".
    validators = get_default_password_validators() or [MinimumLengthValidator(min_length=MIN_PASSWORD_LENGTH)]
    try:
        validate_password(password, user=User(email=email), password_validators=validators)
    except DjangoValidationError as exc:
        raise ValidationFailed("invalid password", fields={"password": list(exc.messages)}) from exc


def user_register(*, email: str, password: str, full_name: str = "") -> User:
    """Create a user and record UserRegistered in the same transaction (outbox).

    A duplicate email is a 409: the unique constraint decides, so two concurrent sign-ups with
    the same address cannot both win.
    """
    email = _clean_email(email)
    _check_password(password, email=email)
    full_name = (full_name or "").strip()
    if len(full_name) > User._meta.get_field("full_name").max_length:
        raise ValidationFailed("invalid full name", fields={"full_name": ["too long"]})
    duplicate = Conflict("a user with this email already exists", code="email_taken",
                         fields={"email": ["already registered"]})
    if User.objects.filter(email=email).exists():
        raise duplicate
    try:
        with transaction.atomic():
            user = User.objects.create_user(email=email, password=password, full_name=full_name)
            outbox_add(event=UserRegistered(user_id=user.id))
    except IntegrityError as exc:
        raise duplicate from exc
    return user


def user_token_obtain(*, email: str, password: str) -> str:
    """Return the user's API token, creating it on first login.

    Unknown email and wrong password give the same answer so the endpoint does not reveal who
    has an account.
    """
    user = authenticate(email=(email or "").strip().lower(), password=password or "")
    if user is None:
        raise DomainError("unable to log in with the provided credentials", code="invalid_credentials",
                          status_code=400)
    token, _ = Token.objects.get_or_create(user=user)
    return token.key
