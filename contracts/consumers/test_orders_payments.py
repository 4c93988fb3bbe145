"""MONOLITH_ORDERS -> PAYMENTS: what orders' remote payments client needs of /internal/v1/payments.

The real ``monolith.payments.remote.PaymentsClient`` runs against Pact's mock server, so the
pact records exactly the requests it makes and the answers it can read. The internal credential
and the Idempotency-Key are contract (their presence and shape), their values are not.
"""

from __future__ import annotations

import uuid

import pytest
from pact import match

from contracts.consumers.shapes import (
    IDEMPOTENCY_KEY_RE,
    a_currency,
    an_id,
    error_body,
    example_id,
    monolith_credential,
    payment_internal,
    refund_result,
)
from contracts.participants import MONOLITH_ORDERS, PAYMENTS
from monolith.kernel.money import Money
from monolith.payments.remote import LockedBreaker, PaymentsClient
from strangler.django.errors import Conflict, NotFound
from strangler.proxy.credentials import HEADER as CREDENTIAL_HEADER
from strangler.proxy.credentials import CredentialSource
from strangler.proxy.types import BreakerPolicy

USER = example_id("orders:user")
JSON = "application/json"
CAPTURED_STATE = "a captured payment of 25.00 EUR exists for an order"


@pytest.fixture
def pact(pact_between):
    return pact_between(MONOLITH_ORDERS, PAYMENTS)


def _client(url: object) -> PaymentsClient:
    return PaymentsClient(base_url=str(url),
                          credentials=CredentialSource("consumer-test-secret", "monolith", audience="payments-service"),
                          connect_timeout=1.0, read_timeout=5.0, retries=0,
                          breaker=LockedBreaker(BreakerPolicy()))


def _signed(interaction, idempotency_key: str | None = None):
    """Every call carries the monolith's internal credential; writes carry the domain key."""
    interaction.with_header(CREDENTIAL_HEADER, monolith_credential("payments-service"))
    if idempotency_key is not None:
        interaction.with_header("Idempotency-Key", match.regex(idempotency_key, regex=IDEMPOTENCY_KEY_RE))
    return interaction


def _charge(pact, *, description: str, order_id: str, card_token: str, status: str, failure_reason: str = ""):
    key = f"orders.checkout:{order_id}"
    interaction = pact.upon_receiving(description).with_request("POST", "/internal/v1/payments/charges/")
    _signed(interaction, key).with_body({
        "order_id": an_id(order_id), "user_id": an_id(USER), "amount_minor": match.int(2500),
        "currency": a_currency(), "card_token": card_token,
    }, content_type=JSON)
    interaction.will_respond_with(200).with_body(
        payment_internal(payment_id=example_id(f"payment:{description}"), order_id=order_id, user_id=USER,
                         status=status, failure_reason=failure_reason), content_type=JSON)
    return key


def test_charge_captured(pact):
    order_id = example_id("order:charge-captured")
    key = _charge(pact, description="a charge the card processor accepts", order_id=order_id,
                  card_token="tok_visa", status="captured")
    with pact.serve() as srv:
        payment = _client(srv.url).payment_charge(order_id=uuid.UUID(order_id), user_id=uuid.UUID(USER),
                                                  amount=Money(2500, "EUR"), card_token="tok_visa",
                                                  idempotency_key=key)
    assert (payment.status, payment.captured_minor) == ("captured", 2500)
    assert payment.order_id == uuid.UUID(order_id)


def test_charge_declined_is_a_result(pact):
    order_id = example_id("order:charge-declined")
    key = _charge(pact, description="a charge the card processor declines", order_id=order_id,
                  card_token="tok_chargeDeclined", status="failed", failure_reason="card_declined")
    with pact.serve() as srv:
        payment = _client(srv.url).payment_charge(order_id=uuid.UUID(order_id), user_id=uuid.UUID(USER),
                                                  amount=Money(2500, "EUR"), card_token="tok_chargeDeclined",
                                                  idempotency_key=key)
    assert (payment.status, payment.failure_reason, payment.captured_minor) == ("failed", "card_declined", 0)


def _captured(pact, description: str, name: str):
    payment_id, order_id = example_id(f"payment:{name}"), example_id(f"order:{name}")
    interaction = pact.upon_receiving(description).given(
        CAPTURED_STATE, payment_id=payment_id, order_id=order_id, user_id=USER, amount_minor=2500,
        currency="EUR")
    return interaction, payment_id, order_id


def test_get(pact):
    interaction, payment_id, order_id = _captured(pact, "a request for a payment", "get")
    _signed(interaction.with_request("GET", f"/internal/v1/payments/{payment_id}/"))
    interaction.will_respond_with(200).with_body(
        payment_internal(payment_id=payment_id, order_id=order_id, user_id=USER), content_type=JSON)
    with pact.serve() as srv:
        payment = _client(srv.url).payment_get(payment_id=uuid.UUID(payment_id))
    assert (payment.id, payment.status, payment.amount_minor) == (uuid.UUID(payment_id), "captured", 2500)


def test_get_unknown_is_not_found(pact):
    payment_id = example_id("payment:unknown")
    interaction = pact.upon_receiving("a request for a payment that does not exist").given(
        "no payment exists with this id", payment_id=payment_id)
    _signed(interaction.with_request("GET", f"/internal/v1/payments/{payment_id}/"))
    interaction.will_respond_with(404).with_body(error_body("payment_not_found"), content_type=JSON)
    with pact.serve() as srv, pytest.raises(NotFound) as raised:
        _client(srv.url).payment_get(payment_id=uuid.UUID(payment_id))
    assert raised.value.code == "payment_not_found"


def test_list_by_order(pact):
    interaction, payment_id, order_id = _captured(pact, "a request for the payments of an order", "list")
    _signed(interaction.with_request("GET", "/internal/v1/payments/")).with_query_parameter(
        "order_id", an_id(order_id))
    interaction.will_respond_with(200).with_body(
        match.each_like(payment_internal(payment_id=payment_id, order_id=order_id, user_id=USER), min=1),
        content_type=JSON)
    with pact.serve() as srv:
        payments = _client(srv.url).payments_list_by_order(order_id=uuid.UUID(order_id))
    assert [(p.order_id, p.status) for p in payments] == [(uuid.UUID(order_id), "captured")]


def _refund(pact, description: str, name: str, amount_minor: int):
    interaction, payment_id, _ = _captured(pact, description, name)
    key = f"orders.refund:{payment_id}"
    _signed(interaction.with_request("POST", f"/internal/v1/payments/{payment_id}/refunds/"), key).with_body(
        {"amount_minor": match.int(amount_minor), "currency": a_currency()}, content_type=JSON)
    return interaction, payment_id, key


def test_refund(pact):
    interaction, payment_id, key = _refund(pact, "a refund of part of a captured payment", "refund", 500)
    interaction.will_respond_with(200).with_body(
        refund_result(payment_id=payment_id, amount_minor=500, refunded_total_minor=500), content_type=JSON)
    with pact.serve() as srv:
        refund = _client(srv.url).payment_refund(payment_id=uuid.UUID(payment_id), amount=Money(500, "EUR"),
                                                 idempotency_key=key)
    assert (refund.amount_minor, refund.refunded_total_minor) == (500, 500)
    assert refund.payment_id == uuid.UUID(payment_id)


def test_refund_over_captured_is_a_conflict(pact):
    interaction, payment_id, key = _refund(pact, "a refund of more than was captured", "refund-too-large",
                                           3000)
    interaction.will_respond_with(409).with_body(
        error_body("refund_exceeds_captured", fields={"amount_minor": "must be <= 2500"}), content_type=JSON)
    with pact.serve() as srv, pytest.raises(Conflict) as raised:
        _client(srv.url).payment_refund(payment_id=uuid.UUID(payment_id), amount=Money(3000, "EUR"),
                                        idempotency_key=key)
    assert (raised.value.code, list(raised.value.fields)) == ("refund_exceeds_captured", ["amount_minor"])
