"""The service as deployed: gunicorn, its own SQLite file, end users introspected at a live monolith
(gunicorn too). Calls carry the proxy's credential, exactly as the strangler forwards them."""

from __future__ import annotations

import uuid

import pytest
import requests

from strangler.proxy.credentials import HEADER, credential_mint
from tests.conftest import ServiceClient, monolith_order, monolith_user

pytestmark = pytest.mark.integration

PAYMENTS = "/api/v1/payments/"


@pytest.fixture(scope="module")
def introspection(live_monolith, live_secret) -> None:
    """Fails with a clear message while the monolith lacks the endpoint the service relies on."""
    response = requests.post(f"{live_monolith.url}/internal/v1/users/introspect/", json={"token": "x" * 40},
                             headers={HEADER: credential_mint(live_secret, "payments-service", audience="monolith")}, timeout=30)
    assert response.status_code == 200 and response.json() == {"active": False}, (
        f"the monolith's POST /internal/v1/users/introspect/ is missing or off-contract: "
        f"{response.status_code} {response.text[:300]}")


@pytest.fixture(scope="module")
def alice(live_monolith, live_service, live_secret, introspection) -> tuple[uuid.UUID, ServiceClient]:
    user_id, token = monolith_user(live_monolith)
    return user_id, ServiceClient(live_service.url, live_secret, token)


@pytest.fixture(scope="module")
def bob(live_monolith, live_service, live_secret, introspection) -> tuple[uuid.UUID, ServiceClient]:
    user_id, token = monolith_user(live_monolith)
    return user_id, ServiceClient(live_service.url, live_secret, token)


def _charge_body(monolith, client: ServiceClient, card_token: str = "tok_visa", amount_minor: int = 2500) -> dict:
    """A charge for a new order of the client's user, placed at the monolith (the service asks it whose it is)."""
    return {"order_id": str(monolith_order(monolith, client.token)), "amount_minor": amount_minor, "currency": "EUR",
            "card_token": card_token}


def _key() -> str:
    return f"test-{uuid.uuid4()}"


def _error(response: requests.Response, status: int, code: str) -> dict:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message", "fields"}
    assert body["error"]["code"] == code
    return body


def test_charge_then_replay_then_reuse_with_another_body(alice, live_monolith):
    _, client = alice
    key, body = _key(), _charge_body(live_monolith, client)
    first = client.call("POST", PAYMENTS, json=body, key=key)
    assert first.status_code == 201, first.text
    payment = first.json()
    assert (payment["status"], payment["amount_minor"], payment["captured_minor"]) == ("captured", 2500, 2500)
    assert "Idempotent-Replayed" not in first.headers

    replay = client.call("POST", PAYMENTS, json=body, key=key)
    assert replay.status_code == 201
    assert replay.json() == payment
    assert replay.headers["Idempotent-Replayed"] == "true"

    _error(client.call("POST", PAYMENTS, json={**body, "amount_minor": 2600}, key=key), 422,
           "idempotency_key_reused")


def test_a_declined_card_is_402_with_the_error_shape(alice, live_monolith):
    _, client = alice
    body = _error(client.call("POST", PAYMENTS, json=_charge_body(live_monolith, client, "tok_chargeDeclined"),
                              key=_key()), 402,
                  "card_declined")
    assert body["error"]["fields"] == {"card_token": ["card_declined"]}


def test_an_unknown_user_token_is_401(live_service, live_secret, introspection):
    client = ServiceClient(live_service.url, live_secret, token="f" * 40)
    response = client.call("GET", PAYMENTS)
    _error(response, 401, "authentication_failed")
    assert response.headers["WWW-Authenticate"] == "Token"


def test_no_user_token_is_401(live_service, live_secret):
    _error(ServiceClient(live_service.url, live_secret).call("GET", PAYMENTS), 401, "not_authenticated")


def test_without_the_proxys_credential_the_api_is_closed(alice):
    _, client = alice
    response = requests.get(client.url + PAYMENTS, headers={"Authorization": f"Token {client.token}"}, timeout=30)
    _error(response, 401, "internal_credential_required")


def test_each_user_lists_only_their_payments(alice, bob, live_monolith):
    _, alice_client = alice
    _, bob_client = bob
    mine = alice_client.call("POST", PAYMENTS, json=_charge_body(live_monolith, alice_client), key=_key()).json()["id"]
    theirs = bob_client.call("POST", PAYMENTS, json=_charge_body(live_monolith, bob_client), key=_key()).json()["id"]

    alice_ids = {p["id"] for p in alice_client.call("GET", PAYMENTS).json()}
    bob_ids = {p["id"] for p in bob_client.call("GET", PAYMENTS).json()}
    assert mine in alice_ids and theirs not in alice_ids
    assert bob_ids == {theirs}
    _error(bob_client.call("GET", f"{PAYMENTS}{mine}/"), 404, "payment_not_found")
    assert alice_client.call("GET", f"{PAYMENTS}{mine}/").status_code == 200


def test_refund_then_over_refund(alice, live_monolith):
    _, client = alice
    payment = client.call("POST", PAYMENTS, json=_charge_body(live_monolith, client, amount_minor=3000),
                          key=_key()).json()
    refunds = f"{PAYMENTS}{payment['id']}/refunds/"

    refund = client.call("POST", refunds, json={"amount_minor": 1000}, key=_key())
    assert refund.status_code == 201, refund.text
    assert (refund.json()["amount_minor"], refund.json()["refunded_total_minor"]) == (1000, 1000)

    body = _error(client.call("POST", refunds, json={"amount_minor": 2001}, key=_key()), 409,
                  "refund_exceeds_captured")
    assert body["error"]["fields"] == {"amount_minor": ["must be <= 2000"]}
    assert client.call("GET", f"{PAYMENTS}{payment['id']}/").json()["refunded_minor"] == 1000


def test_the_monolith_credential_is_accepted_on_the_api_too(alice, live_secret):
    _, client = alice
    assert client.call("GET", PAYMENTS, caller="monolith").status_code == 200


def test_a_charge_for_someone_elses_order_is_404_as_the_monolith_answers(alice, bob, live_monolith):
    """The service asks the live monolith whose order it is: another user's order is refused
    exactly like a missing one, and nothing is charged."""
    _, alice_client = alice
    _, bob_client = bob
    bobs = _charge_body(live_monolith, bob_client)
    _error(alice_client.call("POST", PAYMENTS, json=bobs, key=_key()), 404, "order_not_found")
    _error(alice_client.call("POST", PAYMENTS, json={**bobs, "order_id": str(uuid.uuid4())}, key=_key()), 404,
           "order_not_found")
    assert all(p["order_id"] != bobs["order_id"] for p in bob_client.call("GET", PAYMENTS).json())
