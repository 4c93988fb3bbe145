import threading
import uuid

import pytest
from django.db import connection

from monolith.orders.models import CheckoutSaga, Order
from monolith.orders.services import CheckoutPaymentFailed, OrderLineInput, order_checkout, order_create
from monolith.payments import interface as payments
from strangler.django.errors import Conflict, NotFound
from strangler.django.outbox.models import OutboxMessage


def _events(type_name: str) -> list[dict]:
    return [m.envelope["payload"] for m in OutboxMessage.objects.filter(event_type=type_name).order_by("id")]


def test_happy_path(order, stock):
    confirmed = order_checkout(order_id=order.id, user_id=order.user_id, card_token="tok_visa")
    assert confirmed.status == "confirmed"
    saga = CheckoutSaga.objects.get(pk=order.id)
    assert (saga.step, saga.card_token, saga.attempts) == ("confirmed", "", 1)
    [payment] = payments.payments_list_by_order(order_id=order.id)
    assert (payment.id, payment.status, payment.amount_minor, payment.currency) == (saga.payment_id, "captured",
                                                                                   4500, "EUR")
    assert stock() == {"mug": (8, 0), "tee": (2, 0)}
    assert _events("orders.OrderConfirmed") == [{
        "order_id": str(order.id), "user_id": str(order.user_id), "total_minor": 4500, "currency": "EUR",
        "payment_id": str(payment.id)}]


@pytest.mark.parametrize(("token", "reason"), [("tok_chargeDeclined", "card_declined"),
                                               ("tok_chargeDeclinedInsufficientFunds", "insufficient_funds")])
def test_refused_charge_restores_stock_exactly(order, stock, token, reason):
    before = stock()
    with pytest.raises(CheckoutPaymentFailed) as exc:
        order_checkout(order_id=order.id, user_id=order.user_id, card_token=token)
    assert (exc.value.status_code, exc.value.code) == (402, reason)
    assert stock() == before
    assert Order.objects.get(pk=order.id).status == "failed"
    saga = CheckoutSaga.objects.get(pk=order.id)
    assert (saga.step, saga.failure_reason, saga.card_token) == ("compensated", reason, "")
    assert [p.status for p in payments.payments_list_by_order(order_id=order.id)] == ["failed"]
    assert _events("orders.OrderFailed") == [{"order_id": str(order.id), "user_id": str(order.user_id),
                                              "reason": reason}]
    assert _events("orders.OrderConfirmed") == []


def test_insufficient_stock_fails_without_charging(products, stock):
    order = order_create(user_id=uuid.uuid4(), lines=[OrderLineInput(product_id=products["tee"].id, quantity=4)])
    with pytest.raises(Conflict) as exc:
        order_checkout(order_id=order.id, user_id=order.user_id, card_token="tok_visa")
    assert exc.value.code == "insufficient_stock"
    assert "tee" in exc.value.message
    assert CheckoutSaga.objects.get(pk=order.id).step == "failed"
    assert payments.payments_list_by_order(order_id=order.id) == []
    assert stock() == {"mug": (10, 0), "tee": (3, 0)}


def test_checkout_of_a_confirmed_order_returns_it(order):
    order_checkout(order_id=order.id, user_id=order.user_id, card_token="tok_visa")
    again = order_checkout(order_id=order.id, user_id=order.user_id, card_token="tok_chargeDeclined")
    assert again.status == "confirmed"
    assert len(payments.payments_list_by_order(order_id=order.id)) == 1


def test_checkout_of_a_failed_order_is_a_conflict(order):
    with pytest.raises(CheckoutPaymentFailed):
        order_checkout(order_id=order.id, user_id=order.user_id, card_token="tok_chargeDeclined")
    with pytest.raises(Conflict) as exc:
        order_checkout(order_id=order.id, user_id=order.user_id, card_token="tok_visa")
    assert exc.value.code == "order_failed"
    assert len(payments.payments_list_by_order(order_id=order.id)) == 1


def test_someone_elses_order_is_not_found(order):
    with pytest.raises(NotFound):
        order_checkout(order_id=order.id, user_id=uuid.uuid4(), card_token="tok_visa")
    assert not CheckoutSaga.objects.exists()


def test_a_checkout_in_flight_is_not_started_twice(order):
    CheckoutSaga.objects.create(order=order, step=CheckoutSaga.STOCK_RESERVED, card_token="tok_visa")
    with pytest.raises(Conflict) as exc:
        order_checkout(order_id=order.id, user_id=order.user_id, card_token="tok_visa")
    assert exc.value.code == "checkout_in_progress"


@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(connection.vendor != "postgresql", reason="row locks across threads need PostgreSQL")
def test_concurrent_checkouts_of_one_order_charge_once(products):
    order = order_create(user_id=uuid.uuid4(), lines=[OrderLineInput(product_id=products["mug"].id, quantity=1)])
    barrier = threading.Barrier(4)
    outcomes: list[str] = []

    def checkout() -> None:
        barrier.wait()
        try:
            outcomes.append(order_checkout(order_id=order.id, user_id=order.user_id, card_token="tok_visa").status)
        except Conflict as exc:
            outcomes.append(exc.code)
        finally:
            connection.close()

    threads = [threading.Thread(target=checkout) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert "confirmed" in outcomes
    assert set(outcomes) <= {"confirmed", "checkout_in_progress"}
    assert [p.status for p in payments.payments_list_by_order(order_id=order.id)] == ["captured"]
    assert Order.objects.get(pk=order.id).status == "confirmed"
