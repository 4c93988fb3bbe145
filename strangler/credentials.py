"""Internal credentials: short-lived tokens signed with a shared secret.

They let a service tell calls from its own platform (the proxy, the monolith) from anything a
client sends. Stdlib only, so the proxy, the monolith and extracted services share one format.
Format: ``v1.<caller>.<expires_unix>.<sig>``, sig = unpadded urlsafe base64 of
HMAC-SHA256(secret, ``v1.<caller>.<expires_unix>``).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import time

HEADER = "X-Internal-Credential"
TTL = 600  # seconds a minted credential is valid
MAX_TTL = 3600  # a credential claiming to live longer is refused
_CALLER = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")


def _key(secret: bytes | str) -> bytes:
    key = secret.encode() if isinstance(secret, str) else secret
    if not key:
        raise ValueError("an internal credential needs a non-empty secret")
    return key


def _sign(key: bytes, payload: str) -> str:
    digest = hmac.new(key, payload.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def credential_mint(secret: bytes | str, caller: str, *, now: float | None = None, ttl: int = TTL) -> str:
    if not _CALLER.match(caller):
        raise ValueError(f"caller names are lowercase letters, digits, '-' and '_': {caller!r}")
    expires = int((time.time() if now is None else now) + ttl)
    payload = f"v1.{caller}.{expires}"
    return f"{payload}.{_sign(_key(secret), payload)}"


def credential_verify(secret: bytes | str, value: str | None, *, now: float | None = None) -> str | None:
    """The caller's name when ``value`` is a valid, unexpired credential; None otherwise."""
    if not value or len(value) > 200:
        return None
    parts = value.split(".")
    if len(parts) != 4 or parts[0] != "v1" or not _CALLER.match(parts[1]) or not parts[2].isdigit():
        return None
    payload = ".".join(parts[:3])
    if not hmac.compare_digest(_sign(_key(secret), payload), parts[3]):
        return None
    current = time.time() if now is None else now
    expires = int(parts[2])
    if expires < current or expires > current + MAX_TTL:
        return None
    return parts[1]


class CredentialSource:
    """A caller's current credential, re-minted well before it expires (cheap to call per request)."""

    def __init__(self, secret: bytes | str, caller: str, *, ttl: int = TTL) -> None:
        self._key = _key(secret)
        self.caller = caller
        self._ttl = ttl
        self._value = ""
        self._renew_at = 0.0

    def current(self, now: float | None = None) -> str:
        current = time.time() if now is None else now
        if current >= self._renew_at:
            self._value = credential_mint(self._key, self.caller, now=current, ttl=self._ttl)
            self._renew_at = current + self._ttl / 2
        return self._value
