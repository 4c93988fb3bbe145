"""The shopper the storefront pact's requests are signed as: registered through the monolith's users
API, the way an app's user signs up, so both implementations identify them the production way (the
monolith by its token table, the service by introspecting the token at the monolith)."""

from __future__ import annotations

import dataclasses
import secrets
import uuid

import requests

TIMEOUT = 30.0


@dataclasses.dataclass(frozen=True, slots=True)
class Shopper:
    user_id: uuid.UUID
    email: str
    token: str


def shopper_register(monolith_url: str) -> Shopper:
    email = f"contract-shopper-{secrets.token_hex(6)}@example.com"
    password = secrets.token_urlsafe(18)
    with requests.Session() as session:
        credentials = {"email": email, "password": password}
        registered = session.post(f"{monolith_url}/api/v1/users/", json=credentials, timeout=TIMEOUT)
        if registered.status_code != 201:
            raise RuntimeError(f"registering the shopper failed: HTTP {registered.status_code} "
                               f"{registered.text}")
        token = session.post(f"{monolith_url}/api/v1/users/token/", json=credentials, timeout=TIMEOUT)
        if token.status_code != 200:
            raise RuntimeError(f"the shopper's token was refused: HTTP {token.status_code} {token.text}")
    return Shopper(user_id=uuid.UUID(registered.json()["id"]), email=email, token=token.json()["token"])
