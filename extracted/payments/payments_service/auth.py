"""End-user authentication without a users table: the token is introspected at the monolith.

``Authorization: Token <key>`` is the same header the monolith accepts, so clients do not change
when the strangler proxy routes payments here.
"""

from __future__ import annotations

import dataclasses
import re
import uuid
from typing import ClassVar

from rest_framework.authentication import BaseAuthentication, get_authorization_header
from rest_framework.exceptions import AuthenticationFailed
from rest_framework.request import Request

from payments_service.identity import introspector_get

KEYWORD = "Token"
# Anything else is refused here rather than forwarded to the monolith.
_KEY_RE = re.compile(r"^[\x21-\x7e]{1,256}$")


@dataclasses.dataclass(frozen=True, slots=True)
class ServiceUser:
    """The end user of a request, known only by id: what the payments views need (``pk``)."""

    pk: uuid.UUID
    is_authenticated: ClassVar[bool] = True
    is_anonymous: ClassVar[bool] = False

    @property
    def id(self) -> uuid.UUID:
        return self.pk


class IntrospectedTokenAuthentication(BaseAuthentication):
    """No header: not authenticated (401). Unknown or revoked token: 401. Monolith unreachable: 503."""

    def authenticate(self, request: Request) -> tuple[ServiceUser, str] | None:
        parts = get_authorization_header(request).split()
        if not parts or parts[0].lower() != KEYWORD.lower().encode():
            return None
        if len(parts) != 2:
            raise AuthenticationFailed("invalid token header: expected 'Token <key>'")
        try:
            key = parts[1].decode("ascii")
        except UnicodeDecodeError:
            raise AuthenticationFailed("invalid token") from None
        if not _KEY_RE.match(key):
            raise AuthenticationFailed("invalid token")
        user_id = introspector_get().user_id(key)
        if user_id is None:
            raise AuthenticationFailed("invalid or expired token")
        return ServiceUser(pk=user_id), key

    def authenticate_header(self, request: Request) -> str:
        # A WWW-Authenticate value makes DRF answer 401 rather than 403.
        return KEYWORD

