"""Internal credentials: short-lived tokens a caller signs for one audience, the service it calls.

They let a service tell calls from its own platform (the proxy, the monolith, other services) from
anything a client sends. Stdlib only, so the proxy, the monolith and extracted services share one
format: ``v2.<caller>.<audience>.<expires_unix>.<sig>``, sig = unpadded urlsafe base64 of
HMAC-SHA256(key(caller, audience), ``v2.<caller>.<audience>.<expires_unix>``).

Every caller->audience pair signs with its own key, from a Keyring:

* pairwise keys, a mapping ``{"caller>audience": key}`` (``INTERNAL_AUTH_KEYS``, JSON). Give each
  process only the pairs it is a party to: the keys of its outgoing calls and of the callers it
  accepts. Then no process can sign as a caller towards a service other than itself.
* otherwise keys derived from one root secret (``INTERNAL_AUTH_SECRET``):
  key = HMAC-SHA256(root, ``strangler-credential-v2 NUL caller NUL audience``). Simple to run (one
  secret, `make run`'s default); the audience is still bound, since it is signed and picks the key,
  and a service accepts only credentials naming itself: a credential minted for payments is refused
  by catalog, so one leaked from a payments request is of no use anywhere else. But every holder of
  the root can derive every key: use pairwise keys where services are not equally trusted.

A pair present in the mapping never falls back to the root.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import time
from collections.abc import Mapping

HEADER = "X-Internal-Credential"
VERSION = "v2"
TTL = 600  # seconds a minted credential is valid
MAX_TTL = 3600  # a credential claiming to live longer is refused
MAX_LENGTH = 300  # longer header values are refused before any parsing
MAX_KEYS_TEXT = 64 * 1024  # an INTERNAL_AUTH_KEYS value longer than this is refused
MAX_DERIVED = 64  # derived keys memoised per keyring; callers named in forged credentials are not kept
PAIR_SEPARATOR = ">"  # "caller>audience", the keys of a pairwise mapping
_DERIVATION_LABEL = b"strangler-credential-v2"
_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")  # caller and audience names


def valid_name(name: str) -> bool:
    return bool(_NAME.match(name))


def _bytes(secret: bytes | str) -> bytes:
    return secret.encode() if isinstance(secret, str) else secret


class Keyring:
    """The keys of caller->audience pairs: given pairwise, else derived from a root secret."""

    __slots__ = ("_root", "_pairs", "_derived")

    def __init__(self, root: bytes | str | None = None, pairs: Mapping[str, bytes | str] | None = None) -> None:
        self._root = _bytes(root) if root else None
        self._pairs: dict[tuple[str, str], bytes] = {}
        for pair, key in (pairs or {}).items():
            caller, sep, audience = pair.partition(PAIR_SEPARATOR)
            if not sep or not valid_name(caller) or not valid_name(audience):
                raise ValueError(f"internal credential keys are named 'caller{PAIR_SEPARATOR}audience', got {pair!r}")
            if not key:
                raise ValueError(f"the internal credential key of {pair!r} is empty")
            self._pairs[(caller, audience)] = _bytes(key)
        if self._root is None and not self._pairs:
            raise ValueError("internal credentials need a root secret or pairwise keys")
        self._derived: dict[tuple[str, str], bytes] = {}

    def key(self, caller: str, audience: str) -> bytes | None:
        pair = (caller, audience)
        found = self._pairs.get(pair) or self._derived.get(pair)
        if found is None and self._root is not None:
            label = b"\0".join((_DERIVATION_LABEL, caller.encode(), audience.encode()))
            found = hmac.new(self._root, label, hashlib.sha256).digest()
            if len(self._derived) < MAX_DERIVED:
                self._derived[pair] = found
        return found


def keyring(keys: Keyring | bytes | str) -> Keyring:
    """A Keyring as is; a secret (bytes or str) as the root of one."""
    return keys if isinstance(keys, Keyring) else Keyring(root=keys)


def parse_keys(text: str | None) -> dict[str, str]:
    """``INTERNAL_AUTH_KEYS``: a JSON object of "caller>audience" to key; empty or unset is no keys."""
    if not text or not text.strip():
        return {}
    if len(text) > MAX_KEYS_TEXT:
        raise ValueError(f"INTERNAL_AUTH_KEYS is longer than {MAX_KEYS_TEXT} characters")
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise ValueError(f"INTERNAL_AUTH_KEYS is not JSON: {exc}") from None
    if not isinstance(data, dict) or not all(isinstance(v, str) and v for v in data.values()):
        raise ValueError('INTERNAL_AUTH_KEYS must be a JSON object {"caller>audience": "key", ...}')
    Keyring(pairs=data)  # checks the names
    return data


def _sign(key: bytes, payload: str) -> bytes:
    digest = hmac.new(key, payload.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=")


def credential_mint(keys: Keyring | bytes | str, caller: str, *, audience: str, now: float | None = None,
                    ttl: int = TTL) -> str:
    """A credential of ``caller`` for ``audience`` (the service it calls), valid ``ttl`` seconds."""
    if not valid_name(caller) or not valid_name(audience):
        raise ValueError(f"caller and audience names are lowercase letters, digits, '-' and '_': "
                         f"{caller!r}, {audience!r}")
    key = keyring(keys).key(caller, audience)
    if key is None:
        raise ValueError(f"no internal credential key for {caller}{PAIR_SEPARATOR}{audience}")
    expires = int((time.time() if now is None else now) + ttl)
    payload = f"{VERSION}.{caller}.{audience}.{expires}"
    return f"{payload}.{_sign(key, payload).decode()}"


def credential_verify(keys: Keyring | bytes | str, value: str | None, *, audience: str,
                      now: float | None = None) -> str | None:
    """The caller's name when ``value`` is a valid, unexpired credential for ``audience``; None otherwise
    (also for anything that is not ASCII: a header is attacker-controlled text)."""
    if not value or len(value) > MAX_LENGTH or not value.isascii():
        return None
    parts = value.split(".")
    if len(parts) != 5 or parts[0] != VERSION or parts[2] != audience:
        return None
    caller, expires_text = parts[1], parts[3]
    if not valid_name(caller) or not expires_text.isdigit():
        return None
    key = keyring(keys).key(caller, audience)
    if key is None:  # a caller this service holds no key for
        return None
    if not hmac.compare_digest(_sign(key, value.rpartition(".")[0]), parts[4].encode()):
        return None
    current = time.time() if now is None else now
    expires = int(expires_text)
    if expires < current or expires > current + MAX_TTL:
        return None
    return caller


class CredentialSource:
    """A caller's current credential for one audience, re-minted well before it expires (cheap per request)."""

    def __init__(self, keys: Keyring | bytes | str, caller: str, *, audience: str, ttl: int = TTL) -> None:
        self._keys = keyring(keys)
        if self._keys.key(caller, audience) is None:
            raise ValueError(f"no internal credential key for {caller}{PAIR_SEPARATOR}{audience}")
        self.caller = caller
        self.audience = audience
        self._ttl = ttl
        self._value = ""
        self._renew_at = 0.0

    def current(self, now: float | None = None) -> str:
        current = time.time() if now is None else now
        if current >= self._renew_at:
            self._value = credential_mint(self._keys, self.caller, audience=self.audience, now=current,
                                          ttl=self._ttl)
            self._renew_at = current + self._ttl / 2
        return self._value
