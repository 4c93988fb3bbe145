"""Hostile and sloppy requests: each is a 4xx in the one error shape and changes no table."""

import json
import uuid

import pytest

from monolith.catalog import interface as catalog
from monolith.catalog.models import Product, StockLevel, StockReservation
from monolith.kernel.money import Money
from monolith.orders.models import CheckoutSaga, Order, OrderLine
from monolith.payments.models import Payment, Refund
from strangler.django.idempotency.models import IdempotencyRecord
from strangler.django.outbox.models import OutboxMessage

MISSING = object()
HUGE = "x" * 10_000


@pytest.fixture
def world(auth_client):
    """A product, a pending order and a captured payment, created before the snapshot."""
    mug = catalog.product_create(sku="mug", name="Mug", price=Money(1250, "EUR"))
    catalog.stock_set(product_id=mug.id, on_hand=10)
    cap = catalog.product_create(sku="cap", name="Cap", price=Money(900, "USD"))
    catalog.stock_set(product_id=cap.id, on_hand=10)
    order = auth_client.post("/api/v1/orders/", {"lines": [{"product_id": str(mug.id), "quantity": 1}]},
                             format="json", HTTP_IDEMPOTENCY_KEY="setup-order").json()
    payment = auth_client.post("/api/v1/payments/", {"order_id": order["id"], "amount_minor": 1000, "currency": "EUR",
                                                     "card_token": "tok_visa"},
                               format="json", HTTP_IDEMPOTENCY_KEY="setup-charge").json()
    return {"mug": str(mug.id), "cap": str(cap.id), "order": order["id"], "payment": payment["id"]}


def _snapshot() -> dict:
    models = [Product, StockReservation, Order, OrderLine, CheckoutSaga, Payment, Refund, OutboxMessage,
              IdempotencyRecord]
    counts = {m.__name__: m.objects.count() for m in models}
    counts["stock"] = sorted(StockLevel.objects.values_list("product_id", "on_hand", "reserved"))
    counts["orders"] = sorted(Order.objects.values_list("id", "status"))
    counts["payments"] = sorted(Payment.objects.values_list("id", "status", "refunded_minor"))
    return counts


def _with(base: dict, field: str, value) -> dict:
    body = dict(base)
    if value is MISSING:
        body.pop(field)
    else:
        body[field] = value
    return body


CHARGE = {"order_id": "00000000-0000-0000-0000-000000000007", "amount_minor": 1000, "currency": "EUR",
          "card_token": "tok_visa"}
CHARGE_CASES = [
    *[(f"amount {v!r}", _with(CHARGE, "amount_minor", v)) for v in
      [-1, 0, 10.5, 10.0, "10", "1e3", True, False, None, 10**13, [1000], {"v": 1}, MISSING]],
    *[(f"currency {v!r}", _with(CHARGE, "currency", v)) for v in
      ["usd", "XXX", "ABC", "EURO", "EU", "", " EUR", 978, None, ["EUR"], HUGE, MISSING]],
    *[(f"order_id {v!r}", _with(CHARGE, "order_id", v)) for v in
      ["not-a-uuid", 7, None, "", HUGE, MISSING]],
    *[(f"card_token {v!r:.20}", _with(CHARGE, "card_token", v)) for v in
      [HUGE, "", 4242424242424242, None, ["tok_visa"], MISSING]],
    ("empty object", {}),
]

LINE_CASES = [
    ("empty lines", {"lines": []}),
    ("no lines", {}),
    ("lines not a list", {"lines": {"product_id": "x", "quantity": 1}}),
    ("lines a string", {"lines": "mug"}),
    ("line not an object", {"lines": ["mug"]}),
    ("too many lines", {"lines": [{"product_id": str(uuid.UUID(int=i)), "quantity": 1} for i in range(101)]}),
    *[(f"quantity {q!r}", {"lines": [{"product_id": "{mug}", "quantity": q}]}) for q in
      [0, -1, 1001, 10**12, 1.5, 1.0, "1", True, None, [1]]],
    ("quantity missing", {"lines": [{"product_id": "{mug}"}]}),
    ("product_id missing", {"lines": [{"quantity": 1}]}),
    ("product_id not a uuid", {"lines": [{"product_id": "mug", "quantity": 1}]}),
    ("product_id an int", {"lines": [{"product_id": 5, "quantity": 1}]}),
    ("product_id oversized", {"lines": [{"product_id": HUGE, "quantity": 1}]}),
    ("unknown product", {"lines": [{"product_id": str(uuid.UUID(int=99)), "quantity": 1}]}),
    ("duplicate product", {"lines": [{"product_id": "{mug}", "quantity": 1}, {"product_id": "{mug}", "quantity": 2}]}),
    ("mixed currencies", {"lines": [{"product_id": "{mug}", "quantity": 1}, {"product_id": "{cap}", "quantity": 1}]}),
    ("currency not the products'", {"lines": [{"product_id": "{mug}", "quantity": 1}], "currency": "USD"}),
    ("currency lowercase", {"lines": [{"product_id": "{mug}", "quantity": 1}], "currency": "eur"}),
    ("currency unknown", {"lines": [{"product_id": "{mug}", "quantity": 1}], "currency": "ZZZ"}),
    ("currency oversized", {"lines": [{"product_id": "{mug}", "quantity": 1}], "currency": HUGE}),
]

CHECKOUT_CASES = [
    ("no card_token", {}),
    ("card_token oversized", {"card_token": HUGE}),
    ("card_token empty", {"card_token": ""}),
    ("card_token an int", {"card_token": 4242424242424242}),
    ("card_token null", {"card_token": None}),
    ("card_token a list", {"card_token": ["tok_visa"]}),
]

REFUND_CASES = [
    *[(f"amount {v!r}", {"amount_minor": v}) for v in [-5, 0, 2.5, "100", True, None, 10**13]],
    ("currency unknown", {"amount_minor": 100, "currency": "XXX"}),
    ("currency lowercase", {"amount_minor": 100, "currency": "eur"}),
    ("currency an int", {"amount_minor": 100, "currency": 978}),
]

RAW_BODIES = [("malformed JSON", '{"amount_minor": '), ("JSON array", "[]"), ("JSON array of object", '[{"a": 1}]'),
              ("JSON string", '"tok_visa"'), ("JSON number", "12"), ("JSON null", "null"), ("empty body", "")]

ENDPOINTS = {
    "charge": "/api/v1/payments/",
    "create": "/api/v1/orders/",
    "checkout": "/api/v1/orders/{order}/checkout/",
    "refund": "/api/v1/payments/{payment}/refunds/",
}


def _fill(value, world: dict):
    """Put the world's ids into "{mug}"-style placeholders."""
    return json.loads(json.dumps(value).replace("{mug}", world["mug"]).replace("{cap}", world["cap"]))


def _assert_refused(response, before: dict, status: int | None = None) -> None:
    assert 400 <= response.status_code < 500, (response.status_code, response.content[:300])
    if status is not None:
        assert response.status_code == status
    body = response.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"code", "message", "fields"}
    assert isinstance(body["error"]["code"], str) and body["error"]["code"]
    assert isinstance(body["error"]["fields"], dict)
    assert _snapshot() == before


CASES = [
    *[("charge", name, body) for name, body in CHARGE_CASES],
    *[("create", name, body) for name, body in LINE_CASES],
    *[("checkout", name, body) for name, body in CHECKOUT_CASES],
    *[("refund", name, body) for name, body in REFUND_CASES],
]


@pytest.mark.parametrize(("endpoint", "name", "body"), CASES, ids=[f"{e}-{n}" for e, n, _ in CASES])
def test_bad_json_body(auth_client, world, endpoint, name, body):
    before = _snapshot()
    url = ENDPOINTS[endpoint].format(**world)
    response = auth_client.post(url, _fill(body, world), format="json", HTTP_IDEMPOTENCY_KEY=uuid.uuid4().hex)
    _assert_refused(response, before)


# Every refund field is optional, so an empty refund body is a valid full refund.
RAW_CASES = [(e, n, raw) for e in ENDPOINTS for n, raw in RAW_BODIES if (e, n) != ("refund", "empty body")]


@pytest.mark.parametrize(("endpoint", "name", "raw"), RAW_CASES, ids=[f"{e}-{n}" for e, n, _ in RAW_CASES])
def test_unparseable_or_wrongly_shaped_body(auth_client, world, endpoint, name, raw):
    before = _snapshot()
    url = ENDPOINTS[endpoint].format(**world)
    response = auth_client.post(url, raw, content_type="application/json", HTTP_IDEMPOTENCY_KEY=uuid.uuid4().hex)
    _assert_refused(response, before, 400)


@pytest.mark.parametrize(("url", "status"), [
    ("/api/v1/orders/{missing}/checkout/", 404),
    ("/api/v1/payments/{missing}/refunds/", 404),
])
def test_unknown_targets(auth_client, world, url, status):
    before = _snapshot()
    body = {"card_token": "tok_visa"} if "checkout" in url else {"amount_minor": 1}
    response = auth_client.post(url.format(missing=uuid.uuid4()), body, format="json",
                                HTTP_IDEMPOTENCY_KEY=uuid.uuid4().hex)
    _assert_refused(response, before, status)


def test_refund_currency_mismatch_is_422(auth_client, world):
    before = _snapshot()
    response = auth_client.post(f"/api/v1/payments/{world['payment']}/refunds/", {"amount_minor": 1, "currency": "USD"},
                                format="json", HTTP_IDEMPOTENCY_KEY=uuid.uuid4().hex)
    _assert_refused(response, before, 422)


def test_other_content_types_are_refused(auth_client, world):
    before = _snapshot()
    response = auth_client.post("/api/v1/payments/", "amount_minor=1", content_type="application/x-www-form-urlencoded",
                                HTTP_IDEMPOTENCY_KEY=uuid.uuid4().hex)
    _assert_refused(response, before, 415)


@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_anonymous_is_401(api_client, world, endpoint):
    api_client.credentials()
    before = _snapshot()
    response = api_client.post(ENDPOINTS[endpoint].format(**world), {}, format="json",
                               HTTP_IDEMPOTENCY_KEY=uuid.uuid4().hex)
    _assert_refused(response, before, 401)


# --- What the OpenAPI document refuses, the API refuses (tests/test_schema_truth.py runs schemathesis).

@pytest.mark.parametrize("query", ["order_id=", "order_id=not-a-uuid", "order_id={order}&order_id={order}"])
def test_payment_list_filter_is_validated_as_documented(auth_client, world, query):
    """An empty ?order_id= is a value (not a uuid), not an omitted filter; a repeated one is refused."""
    response = auth_client.get(f"/api/v1/payments/?{query.format(order=world['order'])}")
    assert response.status_code == 400, response.content
    assert response.json()["error"]["code"] == "validation_error"
    assert set(response.json()["error"]["fields"]) == {"order_id"}


def test_payment_list_filter_still_filters(auth_client, world):
    listed = auth_client.get(f"/api/v1/payments/?order_id={world['order']}").json()
    assert [p["id"] for p in listed] == [world["payment"]]
    assert auth_client.get(f"/api/v1/payments/?order_id={uuid.uuid4()}").json() == []


REGISTER_CASES = [
    ("blank email", {"email": "", "password": "long-enough-pass"}),
    ("blank password", {"email": "new@example.com", "password": ""}),
    ("short password", {"email": "new@example.com", "password": "1234567"}),
    ("email with a space", {"email": " new@example.com", "password": "long-enough-pass"}),
    ("email one-letter TLD", {"email": "new@example.c", "password": "long-enough-pass"}),
    ("email not a string", {"email": 7, "password": "long-enough-pass"}),
    ("full_name not a string", {"email": "new@example.com", "password": "long-enough-pass", "full_name": 7}),
    ("NUL in the password", {"email": "new@example.com", "password": "long-enough\x00pass"}),
]


@pytest.mark.parametrize(("name", "body"), REGISTER_CASES, ids=[n for n, _ in REGISTER_CASES])
def test_register_refuses_what_the_schema_refuses(api_client, db, name, body):
    from monolith.users.models import User

    before = (User.objects.count(), OutboxMessage.objects.count())
    response = api_client.post("/api/v1/users/", body, format="json")
    assert response.status_code == 400, response.content
    assert response.json()["error"]["code"] in {"validation_error", "invalid"}
    assert (User.objects.count(), OutboxMessage.objects.count()) == before


@pytest.mark.parametrize("body", [{"email": "", "password": "x"}, {"email": "a@example.com", "password": ""}])
def test_token_refuses_blank_credentials_as_input(api_client, db, body):
    response = api_client.post("/api/v1/users/token/", body, format="json")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "validation_error"


def test_idempotency_key_format_is_the_documented_one(client):
    """The document's pattern and the check are one rule: 1-255 visible ASCII characters."""
    import re

    import yaml

    from strangler.django.idempotency import services as idempotency

    document = yaml.safe_load(client.get("/api/schema/").content)
    header = next(p for p in document["paths"]["/api/v1/orders/"]["post"]["parameters"]
                  if p["name"] == "Idempotency-Key")
    schema = header["schema"]
    assert (schema["minLength"], schema["maxLength"]) == (1, 255)
    for key in ["a", "~" * 255, "k-1:2/3", "x" * 256, "", "a b", "é", "a\tb"]:
        documented = schema["minLength"] <= len(key) <= schema["maxLength"] and bool(re.fullmatch(schema["pattern"].strip("^$"), key))
        assert bool(idempotency._KEY_RE.match(key)) == documented, key
