"""STOREFRONT -> PAYMENTS: what end users' apps need of /api/v1/payments (through the strangler).

Drives the storefront client (contracts/clients/storefront.py). Requests are signed by the
shopper's token (``Authorization: Token <key>``, a shape, not a value); provider states say whose
payments exist. The shopper is whoever the token belongs to, so states need no user id.
"""

from __future__ import annotations

import uuid

import pytest
from pact import match

from contracts.clients.storefront import StorefrontError, StorefrontPaymentsClient
from contracts.consumers.shapes import (
    IDEMPOTENCY_KEY_RE,
    TOKEN_AUTHORIZATION_RE,
    a_currency,
    an_id,
    error_body,
    example_id,
    payment_public,
    refund_result,
)
from contracts.participants import PAYMENTS, STOREFRONT

TOKEN = "0123456789abcdef0123456789abcdef01234567"
CAPTURED_STATE = "a shopper has a captured payment of 25.00 EUR for an order"
REFUNDED_STATE = "a shopper has a payment of 25.00 EUR of which 5.00 EUR was refunded"
SHOPPERS_ORDER_STATE = "a shopper has an order"
JSON = "application/json"


@pytest.fixture
def pact(pact_between):
    return pact_between(STOREFRONT, PAYMENTS)


def _client(url: object) -> StorefrontPaymentsClient:
    return StorefrontPaymentsClient(str(url), TOKEN)


def _request(pact, description: str, method: str, path: str, *, key: str | None = None):
    interaction = pact.upon_receiving(description).with_request(method, path).with_header(
        "Authorization", match.regex(f"Token {TOKEN}", regex=TOKEN_AUTHORIZATION_RE))
    if key is not None:
        interaction.with_header("Idempotency-Key", match.regex(key, regex=IDEMPOTENCY_KEY_RE))
    return interaction


def _ids(name: str) -> tuple[str, str]:
    """(payment id, order id) of one interaction's example."""
    return example_id(f"storefront-payment:{name}"), example_id(f"storefront-order:{name}")


def _given(interaction, state: str, payment_id: str, order_id: str, **extra: object):
    return interaction.given(state, payment_id=payment_id, order_id=order_id, amount_minor=2500,
                             currency="EUR", **extra)


def test_list_own_payments_of_an_order(pact):
    payment_id, order_id = _ids("list")
    interaction = _request(pact, "a shopper lists the payments of an order", "GET", "/api/v1/payments/")
    _given(interaction, CAPTURED_STATE, payment_id, order_id).with_query_parameter("order_id",
                                                                                   an_id(order_id))
    interaction.will_respond_with(200).with_body(
        match.each_like(payment_public(payment_id=payment_id, order_id=order_id), min=1), content_type=JSON)
    with pact.serve() as srv:
        payments = _client(srv.url).payments_list(order_id=uuid.UUID(order_id))
    assert [(p.id, p.status, p.refunds) for p in payments] == [(uuid.UUID(payment_id), "captured", ())]


def test_get_with_refunds(pact):
    payment_id, order_id = _ids("get")
    interaction = _request(pact, "a shopper reads a partly refunded payment", "GET",
                           f"/api/v1/payments/{payment_id}/")
    _given(interaction, REFUNDED_STATE, payment_id, order_id, refunded_minor=500)
    interaction.will_respond_with(200).with_body(
        payment_public(payment_id=payment_id, order_id=order_id, refunded_minor=500), content_type=JSON)
    with pact.serve() as srv:
        payment = _client(srv.url).payment_get(uuid.UUID(payment_id))
    assert (payment.refunded_minor, [r.amount_minor for r in payment.refunds]) == (500, [500])


def _charge(pact, description: str, name: str, *, card_token: str, amount_minor: int = 2500):
    (_, order_id), key = _ids(name), f"storefront-charge-{name}"
    # A charge is for the shopper's own order (the payments API checks it; 404 otherwise).
    interaction = _request(pact, description, "POST", "/api/v1/payments/", key=key).given(
        SHOPPERS_ORDER_STATE, order_id=order_id).with_body(
        {"order_id": an_id(order_id), "amount_minor": match.int(amount_minor), "currency": a_currency(),
         "card_token": card_token}, content_type=JSON)
    charge = {"order_id": uuid.UUID(order_id), "amount_minor": amount_minor, "currency": "EUR",
              "card_token": card_token, "idempotency_key": key}
    return interaction, order_id, charge


def test_charge_captured(pact):
    interaction, order_id, charge = _charge(pact, "a shopper pays for an order", "charge",
                                            card_token="tok_visa")
    interaction.will_respond_with(201).with_body(
        payment_public(payment_id=_ids("charge")[0], order_id=order_id), content_type=JSON)
    with pact.serve() as srv:
        payment = _client(srv.url).payment_charge(**charge)
    assert (payment.status, payment.captured_minor) == ("captured", 2500)
    assert payment.order_id == uuid.UUID(order_id)


def test_charge_declined(pact):
    interaction, _, charge = _charge(pact, "a shopper pays with a card that is declined", "declined",
                                     card_token="tok_chargeDeclined")
    interaction.will_respond_with(402).with_body(
        error_body("card_declined", fields={"card_token": "card_declined"}), content_type=JSON)
    with pact.serve() as srv, pytest.raises(StorefrontError) as raised:
        _client(srv.url).payment_charge(**charge)
    assert (raised.value.status, raised.value.code, list(raised.value.fields)) == (402, "card_declined",
                                                                                   ["card_token"])


def test_charge_invalid(pact):
    interaction, _, charge = _charge(pact, "a shopper pays nothing", "invalid", card_token="tok_visa",
                                     amount_minor=0)
    interaction.will_respond_with(400).with_body(
        error_body("validation_error", fields={"amount_minor": "must be >= 1"}), content_type=JSON)
    with pact.serve() as srv, pytest.raises(StorefrontError) as raised:
        _client(srv.url).payment_charge(**charge)
    assert (raised.value.status, raised.value.code, list(raised.value.fields)) == (400, "validation_error",
                                                                                   ["amount_minor"])


def _refund(pact, description: str, name: str, amount_minor: int):
    (payment_id, order_id), key = _ids(name), f"storefront-refund-{name}"
    interaction = _request(pact, description, "POST", f"/api/v1/payments/{payment_id}/refunds/", key=key)
    _given(interaction, CAPTURED_STATE, payment_id, order_id).with_body(
        {"amount_minor": match.int(amount_minor)}, content_type=JSON)
    return interaction, payment_id, key


def test_refund(pact):
    interaction, payment_id, key = _refund(pact, "a shopper is refunded part of a payment", "refund", 500)
    interaction.will_respond_with(201).with_body(
        refund_result(payment_id=payment_id, amount_minor=500, refunded_total_minor=500), content_type=JSON)
    with pact.serve() as srv:
        refund = _client(srv.url).payment_refund(uuid.UUID(payment_id), idempotency_key=key, amount_minor=500)
    assert (refund.amount_minor, refund.refunded_total_minor) == (500, 500)
    assert refund.payment_id == uuid.UUID(payment_id)


def test_refund_too_large(pact):
    interaction, payment_id, key = _refund(pact, "a shopper asks for more than was paid back",
                                           "refund-too-large", 3000)
    interaction.will_respond_with(409).with_body(
        error_body("refund_exceeds_captured", fields={"amount_minor": "must be <= 2500"}), content_type=JSON)
    with pact.serve() as srv, pytest.raises(StorefrontError) as raised:
        _client(srv.url).payment_refund(uuid.UUID(payment_id), idempotency_key=key, amount_minor=3000)
    assert (raised.value.status, raised.value.code) == (409, "refund_exceeds_captured")


@pytest.mark.parametrize(("description", "state", "name"), [
    ("a shopper reads another shopper's payment", "another shopper has a captured payment", "others"),
    ("a shopper reads a payment that does not exist", "no payment exists with this id", "unknown"),
])
def test_not_yours_or_unknown_is_not_found(pact, description: str, state: str, name: str):
    payment_id, _ = _ids(name)
    interaction = _request(pact, description, "GET", f"/api/v1/payments/{payment_id}/").given(
        state, payment_id=payment_id)
    interaction.will_respond_with(404).with_body(error_body("payment_not_found"), content_type=JSON)
    with pact.serve() as srv, pytest.raises(StorefrontError) as raised:
        _client(srv.url).payment_get(uuid.UUID(payment_id))
    assert (raised.value.status, raised.value.code) == (404, "payment_not_found")
