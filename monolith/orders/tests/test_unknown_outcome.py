"""A processor timeout is an unknown outcome (Stripe's rule): the card may have been charged.

The fake processor's ``tok_chargeThenTimeout`` charges the card and loses the answer; asking again
with the same idempotency key is answered with that charge. Nothing may tell the customer "not
charged", release the stock or store a refusal under the client's key; the client's retry and the
periodic sweep ask again with the same key until the processor answers, and the order proceeds.
"""

from monolith.orders import tasks
from monolith.orders.models import CheckoutSaga, Order
from monolith.orders.services import OrderLineInput, charge_idempotency_key, order_create
from monolith.payments import interface as payments
from strangler.django.idempotency.models import IdempotencyRecord
from strangler.django.outbox.models import OutboxMessage


def _types() -> list[str]:
    return list(OutboxMessage.objects.order_by("id").values_list("event_type", flat=True))


def _checkout(client, order_id, key, token="tok_chargeThenTimeout"):
    return client.post(f"/api/v1/orders/{order_id}/checkout/", {"card_token": token}, format="json",
                       HTTP_IDEMPOTENCY_KEY=key)


def _order(products, user_id):
    return order_create(user_id=user_id, lines=[OrderLineInput(product_id=products["mug"].id, quantity=2),
                                                OrderLineInput(product_id=products["tee"].id, quantity=1)])


def test_charged_then_timed_out_checkout_waits_then_confirms_with_one_capture(auth_client, user, products, stock,
                                                                            fake_processor_ledger):
    order = _order(products, user.id)
    key = charge_idempotency_key(order_id=order.id)

    first = _checkout(auth_client, order.id, "co-1")
    assert first.status_code == 202, first.json()
    assert first.json()["status"] == "awaiting_payment"
    assert int(first.headers["Retry-After"]) >= 1
    # The order waits: stock still held, no failure anywhere, no refusal stored for the key.
    assert stock() == {"mug": (10, 2), "tee": (3, 1)}
    assert CheckoutSaga.objects.get(pk=order.id).step == "stock_reserved"
    assert "payments.PaymentFailed" not in _types() and "orders.OrderFailed" not in _types()
    assert not IdempotencyRecord.objects.filter(key="co-1", state="completed").exists()
    [payment] = payments.payments_list_by_order(order_id=order.id)
    assert (payment.status, payment.failure_reason) == ("pending", "processor_timeout")
    assert fake_processor_ledger.captures(key) == 1

    # The client's retry with the same key asks the processor again with the same key.
    again = _checkout(auth_client, order.id, "co-1")
    assert again.status_code == 200, again.json()
    assert again.json()["status"] == "confirmed"
    replay = _checkout(auth_client, order.id, "co-1")
    assert (replay.status_code, replay.json()) == (200, again.json())
    # A new key (a client that lost its key) finds the order confirmed: still no second charge.
    assert _checkout(auth_client, order.id, "co-2").status_code == 200

    assert fake_processor_ledger.captures() == 1
    assert stock() == {"mug": (8, 0), "tee": (2, 0)}
    [payment] = payments.payments_list_by_order(order_id=order.id)
    assert (payment.status, payment.failure_reason, payment.captured_minor) == ("captured", "", 4500)
    assert "payments.PaymentFailed" not in _types() and _types().count("orders.OrderConfirmed") == 1


def test_the_sweep_asks_again_until_the_processor_answers(auth_client, user, products, stock, monkeypatch,
                                                         fake_processor_ledger):
    order = _order(products, user.id)
    assert _checkout(auth_client, order.id, "co-1").status_code == 202
    # Nobody retries: the periodic sweep (Celery beat, orders.checkouts_resume_stale) finds the
    # waiting checkout once its lease ran out and asks the processor again with the same key.
    CheckoutSaga.objects.filter(pk=order.id).update(updated_at="2000-01-01T00:00:00Z")
    enqueued: list[str] = []
    monkeypatch.setattr(tasks.checkout_resume, "delay", enqueued.append)  # the broker is not under test
    assert tasks.checkouts_resume_stale() == 1
    assert tasks.checkout_resume(*enqueued) == "confirmed"
    assert Order.objects.get(pk=order.id).status == "confirmed"
    assert fake_processor_ledger.captures() == 1
    assert stock() == {"mug": (8, 0), "tee": (2, 0)}
    # The client's late retry gets the confirmed order, and nothing is charged again.
    late = _checkout(auth_client, order.id, "co-1")
    assert (late.status_code, late.json()["status"]) == (200, "confirmed")
    assert fake_processor_ledger.captures() == 1


def test_a_processor_that_never_answers_leaves_the_order_waiting(auth_client, user, products, stock,
                                                                fake_processor_ledger):
    order = _order(products, user.id)
    for _ in range(3):
        response = _checkout(auth_client, order.id, "co-1", token="tok_processorTimeout")
        assert response.status_code == 202, response.json()
    assert Order.objects.get(pk=order.id).status == "awaiting_payment"
    assert stock() == {"mug": (10, 2), "tee": (3, 1)}
    assert "payments.PaymentFailed" not in _types()
    assert fake_processor_ledger.captures() == 0


def test_direct_charge_with_unknown_outcome_is_202_then_settles_on_retry(auth_client, user, products,
                                                                        fake_processor_ledger):
    order = _order(products, user.id)
    body = {"order_id": str(order.id), "amount_minor": 1999, "currency": "EUR",
            "card_token": "tok_chargeThenTimeout"}
    first = auth_client.post("/api/v1/payments/", body, format="json", HTTP_IDEMPOTENCY_KEY="p-1")
    assert first.status_code == 202, first.json()
    assert (first.json()["status"], first.json()["outcome_unknown"]) == ("pending", True)
    again = auth_client.post("/api/v1/payments/", body, format="json", HTTP_IDEMPOTENCY_KEY="p-1")
    assert again.status_code == 201, again.json()
    assert (again.json()["status"], again.json()["outcome_unknown"], again.json()["id"]) == (
        "captured", False, first.json()["id"])
    assert fake_processor_ledger.captures() == 1
    assert "payments.PaymentFailed" not in _types()

