"""The internal API, as the monolith's remote payments client calls it on the live service: same
paths and shapes as the monolith serves, payment ids derived from the domain key."""

from __future__ import annotations

import uuid

import pytest

from monolith.kernel.ids import PAYMENT_ID_NAMESPACE
from tests.conftest import ServiceClient

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def monolith_caller(live_service, live_secret) -> ServiceClient:
    return ServiceClient(live_service.url, live_secret)


def test_charge_by_domain_key_then_read_it_back(monolith_caller):
    order_id, user_id = uuid.uuid4(), uuid.uuid4()
    key = f"orders.checkout:{order_id}"
    body = {"order_id": str(order_id), "user_id": str(user_id), "amount_minor": 4200, "currency": "EUR",
            "card_token": "tok_visa"}
    first = monolith_caller.call("POST", "/internal/v1/payments/charges/", json=body, key=key, caller="monolith")
    assert first.status_code == 200, first.text
    payment = first.json()
    assert payment["id"] == str(uuid.uuid5(PAYMENT_ID_NAMESPACE, key))
    assert (payment["status"], payment["user_id"]) == ("captured", str(user_id))

    again = monolith_caller.call("POST", "/internal/v1/payments/charges/", json=body, key=key, caller="monolith")
    assert again.json() == payment  # a retry charges once

    listed = monolith_caller.call("GET", f"/internal/v1/payments/?order_id={order_id}", caller="monolith")
    assert [p["id"] for p in listed.json()] == [payment["id"]]

    refund = monolith_caller.call("POST", f"/internal/v1/payments/{payment['id']}/refunds/", json={},
                                  key=f"orders.refund:{order_id}", caller="monolith")
    assert refund.status_code == 200, refund.text
    assert refund.json()["refunded_total_minor"] == 4200

    checksums = monolith_caller.call("GET", "/internal/v1/payments/sync/checksums/", caller="monolith")
    assert checksums.status_code == 200, checksums.text
    assert payment["id"] in {row[0] for row in checksums.json()["rows"]}


def test_the_proxy_may_not_call_internal_endpoints(monolith_caller):
    response = monolith_caller.call("GET", f"/internal/v1/payments/?order_id={uuid.uuid4()}", caller="strangler")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "internal_credential_required"
