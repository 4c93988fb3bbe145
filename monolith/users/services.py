"""Writes of the users context: registration and token issue."""

from __future__ import annotations

import re

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

from monolith.users.events import UserRegistered
from monolith.users.models import User
from strangler.django.errors import Conflict, DomainError, ValidationFailed
from strangler.django.outbox.services import outbox_add

MIN_PASSWORD_LENGTH = 8

# The e-mail addresses this context takes (the API's schema states it as a pattern, read the same
# way by ECMA-262 and by Python): Django's validate_email narrowed to the form mail servers route, so
# every address it matches passes that validator too. A dot-atom local part @ ASCII labels of
# letters, digits and inner hyphens, ending in a TLD of 2-63 letters or an xn-- one: a domain beyond
# ASCII is given in its punycode (xn--) form. (Django's rare forms, a quoted local part, an IP
# literal or "localhost", are refused.)
_ATEXT = "-!#$%&'*+/=?^_`{}|~0-9a-zA-Z"
_LABEL = "[a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?"
EMAIL_PATTERN = (
    f"^[{_ATEXT}]+(\\.[{_ATEXT}]+)*@{_LABEL}(\\.{_LABEL})*\\.([a-zA-Z][a-zA-Z-]{{0,61}}[a-zA-Z]|xn--[a-zA-Z0-9]{{1,59}})$"
)
_EMAIL_RE = re.compile(EMAIL_PATTERN[:-1] + r"\Z")


def _clean_email(email: str) -> str:
    email = (email or "").strip().lower()
    try:
        validate_email(email)
    except DjangoValidationError as exc:
        raise ValidationFailed("invalid email", fields={"email": list(exc.messages)}) from exc
    if not _EMAIL_RE.match(email):
        raise ValidationFailed("invalid email", fields={"email": ["Enter a valid email address (an IDN domain in "
                                                                  "its xn-- form)."]})
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
