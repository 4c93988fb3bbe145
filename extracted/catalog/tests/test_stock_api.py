"""The stock steps of the checkout saga over HTTP (/internal/v1/catalog/reservations/...), in the
service: idempotent by Idempotency-Key with the kit's semantics, the catalog's own refusals in the
kit's error shape, and nothing written by a refused request."""

from __future__ import annotations

import uuid

import pytest
from django.utils import timezone

from monolith.catalog.models import StockLevel, StockReservation
from strangler.django.idempotency.models import IdempotencyRecord

RESERVE = "/internal/v1/catalog/reservations/"


def _step(order_id: uuid.UUID, step: str) -> str:
    return f"{RESERVE}{order_id}/{step}/"


def _body(order_id: uuid.UUID, *lines: tuple[object, int]) -> dict:
    return {"order_id": str(order_id), "lines": [{"product_id": str(p), "quantity": q} for p, q in lines]}


def _levels() -> dict:
    return {s.product_id: (s.on_hand, s.reserved) for s in StockLevel.objects.all()}


def _assert_error(response, status: int, code: str) -> None:
    assert response.status_code == status, response.content
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message", "fields"}
    assert body["error"]["code"] == code


def test_reserve_commit_release_with_keys(internal, products):
    mug, tee = products
    sold, dropped = uuid.uuid4(), uuid.uuid4()
    reserved = internal("post", RESERVE, _body(sold, (mug.id, 3), (tee.id, 1)), key="k-reserve-1")
    assert reserved.status_code == 200, reserved.content
    assert reserved.json()["state"] == "reserved" and reserved.json()["order_id"] == str(sold)
    assert internal("post", RESERVE, _body(dropped, (mug.id, 2)), key="k-reserve-2").status_code == 200
    assert _levels() == {mug.id: (5, 5), tee.id: (2, 1)}

    committed = internal("post", _step(sold, "commit"), key="k-commit-1")
    assert committed.status_code == 200 and committed.json()["state"] == "committed"
    released = internal("post", _step(dropped, "release"), key="k-release-2")
    assert released.status_code == 200 and released.json()["state"] == "released"
    assert _levels() == {mug.id: (2, 0), tee.id: (1, 0)}


def test_a_replay_answers_the_first_response_and_writes_nothing(internal, products):
    mug, _ = products
    order_id = uuid.uuid4()
    first = internal("post", RESERVE, _body(order_id, (mug.id, 2)), key="k-1")
    rows = (_levels(), StockReservation.objects.count(), IdempotencyRecord.objects.count())
    again = internal("post", RESERVE, _body(order_id, (mug.id, 2)), key="k-1")
    assert again.status_code == first.status_code and again.json() == first.json()
    assert again["Idempotent-Replayed"] == "true"
    assert (_levels(), StockReservation.objects.count(), IdempotencyRecord.objects.count()) == rows


def test_the_same_key_with_another_body_is_refused(internal, products):
    mug, _ = products
    internal("post", RESERVE, _body(uuid.uuid4(), (mug.id, 1)), key="k-1")
    before = _levels()
    _assert_error(internal("post", RESERVE, _body(uuid.uuid4(), (mug.id, 2)), key="k-1"), 422,
                  "idempotency_key_reused")
    assert _levels() == before and StockReservation.objects.count() == 1


def test_a_key_still_running_is_409_request_in_progress(internal, products):
    mug, _ = products
    body = _body(uuid.uuid4(), (mug.id, 1))
    internal("post", RESERVE, body, key="k-1")
    IdempotencyRecord.objects.update(state=IdempotencyRecord.PENDING, locked_at=timezone.now())  # as if running
    response = internal("post", RESERVE, body, key="k-1")
    _assert_error(response, 409, "request_in_progress")
    assert response["Retry-After"] == "1"


def test_keys_are_required(internal, products):
    mug, _ = products
    _assert_error(internal("post", RESERVE, _body(uuid.uuid4(), (mug.id, 1))), 400, "idempotency_key_missing")
    _assert_error(internal("post", _step(uuid.uuid4(), "release")), 400, "idempotency_key_missing")
    assert _levels()[mug.id] == (5, 0)


def test_a_reserve_beyond_stock_is_refused_and_reserves_nothing(internal, products):
    mug, tee = products
    before = _levels()
    response = internal("post", RESERVE, _body(uuid.uuid4(), (mug.id, 1), (tee.id, 3)), key="k-1")
    _assert_error(response, 409, "insufficient_stock")
    assert "tee" in response.json()["error"]["message"]
    assert response.json()["error"]["fields"] == {"lines": [f"insufficient stock for product {tee.id} (tee)"]}
    assert _levels() == before and StockReservation.objects.count() == 0


@pytest.mark.parametrize("body", [
    {},
    {"order_id": "not-a-uuid", "lines": [{"product_id": str(uuid.uuid4()), "quantity": 1}]},
    {"order_id": str(uuid.uuid4()), "lines": []},
    {"order_id": str(uuid.uuid4()), "lines": [{"product_id": str(uuid.uuid4()), "quantity": "1"}]},
    {"order_id": str(uuid.uuid4()), "lines": [{"product_id": str(uuid.uuid4()), "quantity": 0}]},
    {"order_id": str(uuid.uuid4()), "lines": [{"product_id": str(uuid.uuid4()), "quantity": 1001}]},
    ["not", "an", "object"],
])
def test_bad_input_is_a_400_and_writes_nothing(internal, products, body):
    before = _levels()
    _assert_error(internal("post", RESERVE, body, key="k-bad"), 400, "validation_error")
    assert _levels() == before
    assert not StockReservation.objects.exists() and not IdempotencyRecord.objects.exists()  # the key is free again


def test_an_unknown_product_is_404_and_reserves_nothing(internal, products):
    mug, _ = products
    response = internal("post", RESERVE, _body(uuid.uuid4(), (mug.id, 1), (uuid.uuid4(), 1)), key="k-1")
    _assert_error(response, 404, "product_not_found")
    assert _levels()[mug.id] == (5, 0) and not StockReservation.objects.exists()


def test_release_is_safe_to_repeat_with_any_key(internal, products):
    mug, _ = products
    order_id = uuid.uuid4()
    internal("post", RESERVE, _body(order_id, (mug.id, 4)), key="k-r")
    for key in ("k-rel-1", "k-rel-1", "k-rel-2"):
        response = internal("post", _step(order_id, "release"), key=key)
        assert response.status_code == 200 and response.json()["state"] == "released"
    assert _levels()[mug.id] == (5, 0)
    _assert_error(internal("post", RESERVE, _body(order_id, (mug.id, 4)), key="k-r2"), 409, "reservation_released")


def test_releasing_an_order_that_reserved_nothing_is_not_an_error(internal, products):
    order_id = uuid.uuid4()
    response = internal("post", _step(order_id, "release"), key="k-1")
    assert response.status_code == 200
    assert response.json() == {"id": None, "order_id": str(order_id), "state": "none", "lines": []}
    assert not StockReservation.objects.exists()


def test_commit_after_release_and_release_after_commit_are_conflicts(internal, products):
    mug, _ = products
    released, sold = uuid.uuid4(), uuid.uuid4()
    internal("post", RESERVE, _body(released, (mug.id, 1)), key="k-a")
    internal("post", RESERVE, _body(sold, (mug.id, 1)), key="k-b")
    internal("post", _step(released, "release"), key="k-c")
    internal("post", _step(sold, "commit"), key="k-d")
    _assert_error(internal("post", _step(released, "commit"), key="k-e"), 409, "reservation_released")
    _assert_error(internal("post", _step(sold, "release"), key="k-f"), 409, "reservation_committed")
    _assert_error(internal("post", _step(uuid.uuid4(), "commit"), key="k-g"), 409, "reservation_missing")
    assert _levels()[mug.id] == (4, 0)


def test_return_puts_sold_units_back_once(internal, products):
    mug, _ = products
    order_id = uuid.uuid4()
    internal("post", RESERVE, _body(order_id, (mug.id, 2)), key="k-1")
    internal("post", _step(order_id, "commit"), key="k-2")
    for key in ("k-3", "k-4"):
        assert internal("post", _step(order_id, "return"), key=key).json()["state"] == "released"
    assert _levels()[mug.id] == (5, 0)


@pytest.mark.parametrize("caller", [None, "strangler", "payments-service"])
def test_only_the_monolith_may_call_the_stock_steps(client, mint, products, caller):
    mug, _ = products
    headers = {"HTTP_X_INTERNAL_CREDENTIAL": mint(caller)} if caller else {}
    response = client.post(RESERVE, _body(uuid.uuid4(), (mug.id, 1)), content_type="application/json",
                           HTTP_IDEMPOTENCY_KEY="k-1", **headers)
    _assert_error(response, 401, "internal_credential_required")
    assert _levels()[mug.id] == (5, 0)
