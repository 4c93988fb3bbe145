"""Fixtures: internal credentials, a fake monolith for identity, and live processes.

Live fixtures are session-scoped: starting gunicorn and migrating SQLite files costs seconds.
"""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Callable, Iterator

import pytest
import requests

from strangler.django.testing import network_guard_fixture
from strangler.proxy.credentials import HEADER, credential_mint
from tests import live
from tests.fake_monolith import FakeMonolith

# Every step commits before it calls out (strangler.django.testing).
no_network_in_transaction = network_guard_fixture(
    "monolith.payments.processors.FakeProcessor.charge",
    "monolith.payments.processors.FakeProcessor.refund",
)


@pytest.fixture(autouse=True)
def fake_processor_ledger():
    """Each test starts with a processor that has seen no idempotency key."""
    from monolith.payments.processors import FakeProcessor

    FakeProcessor.ledger_reset()
    yield FakeProcessor
    FakeProcessor.ledger_reset()


@pytest.fixture
def mint(settings) -> Callable[..., str]:
    """``mint("strangler")``: a credential the in-process service accepts from that caller."""

    def _mint(caller: str, **kwargs) -> str:
        return credential_mint(settings.INTERNAL_AUTH_SECRET, caller, **{"audience": "payments-service", **kwargs})

    return _mint


@pytest.fixture
def api_client():
    from rest_framework.test import APIClient

    return APIClient()


@pytest.fixture(scope="session")
def fake_monolith_server() -> Iterator[FakeMonolith]:
    server = FakeMonolith(secret="fake-monolith-secret").start()
    yield server
    server.stop()


@pytest.fixture
def fake_monolith(fake_monolith_server, settings) -> FakeMonolith:
    """The in-process service introspects tokens at a fresh fake monolith."""
    fake_monolith_server.reset()
    settings.INTERNAL_AUTH_SECRET = fake_monolith_server.secret
    settings.MONOLITH_URL = fake_monolith_server.url  # setting_changed resets the introspector
    return fake_monolith_server


# -- live processes --------------------------------------------------------------------------------

@pytest.fixture(scope="session")
def live_secret() -> str:
    return secrets.token_urlsafe(24)


@pytest.fixture(scope="session")
def live_monolith(tmp_path_factory, live_secret) -> Iterator[live.Server]:
    server = live.monolith_start(tmp_path_factory.mktemp("monolith"), secret=live_secret)
    yield server
    server.stop()


@pytest.fixture(scope="session")
def live_service(tmp_path_factory, live_secret, live_monolith) -> Iterator[live.Server]:
    server = live.service_start(tmp_path_factory.mktemp("service"), secret=live_secret,
                                monolith_url=live_monolith.url)
    yield server
    server.stop()


@pytest.fixture(scope="session")
def fake_backed_service(tmp_path_factory, fake_monolith_server) -> Iterator[live.Server]:
    """A live service whose identity answers come from the fake monolith (events tests)."""
    server = live.service_start(tmp_path_factory.mktemp("service-fake"), secret=fake_monolith_server.secret,
                                monolith_url=fake_monolith_server.url)
    yield server
    server.stop()


class ServiceClient:
    """Calls a live service as the strangler proxy would: its credential plus the user's token."""

    def __init__(self, url: str, secret: str, token: str | None = None, *, audience: str = "payments-service") -> None:
        self.url, self.secret, self.token, self.audience = url, secret, token, audience
        self.session = requests.Session()

    def call(self, method: str, path: str, *, json: object = None, key: str | None = None,
             caller: str = "strangler") -> requests.Response:
        headers = {HEADER: credential_mint(self.secret, caller, audience=self.audience)}
        if self.token:
            headers["Authorization"] = f"Token {self.token}"
        if key:
            headers["Idempotency-Key"] = key
        return self.session.request(method, self.url + path, json=json, headers=headers, timeout=30)


def monolith_user(monolith: live.Server) -> tuple[uuid.UUID, str]:
    """Registers a user through the monolith's public API; returns (user id, token)."""
    email = f"u{uuid.uuid4().hex[:10]}@example.com"
    password = "correct-horse-battery-9"
    created = requests.post(f"{monolith.url}/api/v1/users/", json={"email": email, "password": password}, timeout=30)
    assert created.status_code == 201, created.text
    token = requests.post(f"{monolith.url}/api/v1/users/token/", json={"email": email, "password": password},
                          timeout=30)
    assert token.status_code == 200, token.text
    return uuid.UUID(created.json()["id"]), token.json()["token"]



def monolith_order(monolith: live.Server, token: str) -> uuid.UUID:
    """An order of the token's user, placed through the monolith's public API (one unit of the
    product with the most stock): what a public charge must name."""
    auth = {"Authorization": f"Token {token}"}
    products = requests.get(f"{monolith.url}/api/v1/products/", headers=auth, timeout=30).json()
    product = max(products, key=lambda p: p["available"])
    created = requests.post(f"{monolith.url}/api/v1/orders/", json={"lines": [{"product_id": product["id"],
                            "quantity": 1}]}, headers=auth | {"Idempotency-Key": str(uuid.uuid4())}, timeout=30)
    assert created.status_code == 201, created.text
    return uuid.UUID(created.json()["id"])
