"""Crashes between saga steps: a resumed checkout finishes without charging twice, or compensates."""

import datetime as dt

import pytest
from django.core.management import call_command
from django.utils import timezone

from monolith.orders import services
from monolith.orders.models import CheckoutSaga
from monolith.orders.services import order_checkout, order_checkout_resume
from monolith.payments import interface as payments
from strangler.django.outbox.models import OutboxMessage


class Crash(Exception):
    pass


def _checkout_crashing(order, monkeypatch, target: str, *, after_real_call: bool) -> None:
    """Run a checkout whose ``target`` (an attribute of orders.services' collaborators) dies once."""
    owner, name = target.rsplit(".", 1)
    module = {"payments": services.payments, "catalog": services.catalog, "services": services}[owner]
    real = getattr(module, name)

    def dying(**kwargs):
        if after_real_call:
            real(**kwargs)
        raise Crash(target)

    monkeypatch.setattr(module, name, dying)
    with pytest.raises(Crash):
        order_checkout(order_id=order.id, user_id=order.user_id, card_token="tok_visa")
    monkeypatch.undo()


def _captured_events(order) -> int:
    return sum(1 for m in OutboxMessage.objects.filter(event_type="payments.PaymentCaptured")
               if m.envelope["payload"]["order_id"] == str(order.id))


def _assert_confirmed_once(order, stock):
    assert CheckoutSaga.objects.get(pk=order.id).step == "confirmed"
    [payment] = payments.payments_list_by_order(order_id=order.id)
    assert payment.status == "captured"
    assert _captured_events(order) == 1
    assert OutboxMessage.objects.filter(event_type="orders.OrderConfirmed").count() == 1
    assert stock() == {"mug": (8, 0), "tee": (2, 0)}


def test_crash_after_the_charge_resumes_without_charging_again(order, stock, monkeypatch):
    _checkout_crashing(order, monkeypatch, "payments.payment_charge", after_real_call=True)
    assert CheckoutSaga.objects.get(pk=order.id).step == "stock_reserved"
    assert [p.status for p in payments.payments_list_by_order(order_id=order.id)] == ["captured"]
    assert order_checkout_resume(order_id=order.id).status == "confirmed"
    _assert_confirmed_once(order, stock)


def test_crash_before_the_charge_resumes_and_charges_once(order, stock, monkeypatch):
    _checkout_crashing(order, monkeypatch, "payments.payment_charge", after_real_call=False)
    assert payments.payments_list_by_order(order_id=order.id) == []
    assert stock() == {"mug": (10, 2), "tee": (3, 1)}
    assert order_checkout_resume(order_id=order.id).status == "confirmed"
    _assert_confirmed_once(order, stock)


def test_crash_after_reserving_does_not_reserve_twice(order, stock, monkeypatch):
    _checkout_crashing(order, monkeypatch, "catalog.stock_reserve", after_real_call=True)
    assert CheckoutSaga.objects.get(pk=order.id).step == "started"
    assert order_checkout_resume(order_id=order.id).status == "confirmed"
    _assert_confirmed_once(order, stock)


def test_crash_at_payment_charged_commits_without_touching_payments(order, stock, monkeypatch):
    _checkout_crashing(order, monkeypatch, "catalog.stock_commit", after_real_call=False)
    assert CheckoutSaga.objects.get(pk=order.id).step == "payment_charged"

    def no_charge(**kwargs):
        raise AssertionError("a charged saga must not charge again")

    monkeypatch.setattr(services.payments, "payment_charge", no_charge)
    assert order_checkout_resume(order_id=order.id).status == "confirmed"
    _assert_confirmed_once(order, stock)


def test_without_the_card_token_a_captured_payment_is_found_by_order(order, stock, monkeypatch):
    _checkout_crashing(order, monkeypatch, "payments.payment_charge", after_real_call=True)
    CheckoutSaga.objects.filter(pk=order.id).update(card_token="")
    assert order_checkout_resume(order_id=order.id).status == "confirmed"
    _assert_confirmed_once(order, stock)


def _age(order, seconds: int) -> None:
    CheckoutSaga.objects.filter(pk=order.id).update(updated_at=timezone.now() - dt.timedelta(seconds=seconds))


def test_command_compensates_an_abandoned_checkout(order, stock, monkeypatch):
    before = {"mug": (10, 0), "tee": (3, 0)}
    _checkout_crashing(order, monkeypatch, "payments.payment_charge", after_real_call=False)
    CheckoutSaga.objects.filter(pk=order.id).update(card_token="")  # nothing left to charge with
    _age(order, 120)
    call_command("resume_checkouts", older_than=60)
    saga = CheckoutSaga.objects.select_related("order").get(pk=order.id)
    assert (saga.step, saga.failure_reason, saga.order.status) == ("compensated", "checkout_abandoned", "failed")
    assert stock() == before
    assert payments.payments_list_by_order(order_id=order.id) == []
    assert OutboxMessage.objects.filter(event_type="orders.OrderFailed").count() == 1


def test_command_drives_stale_sagas_forward_and_leaves_fresh_ones(order, stock, monkeypatch):
    _checkout_crashing(order, monkeypatch, "payments.payment_charge", after_real_call=True)
    call_command("resume_checkouts", older_than=60)
    assert CheckoutSaga.objects.get(pk=order.id).step == "stock_reserved"
    _age(order, 120)
    call_command("resume_checkouts", older_than=60)
    _assert_confirmed_once(order, stock)
    attempts = CheckoutSaga.objects.get(pk=order.id).attempts
    call_command("resume_checkouts", older_than=0)
    assert CheckoutSaga.objects.get(pk=order.id).attempts == attempts


def test_periodic_sweep_enqueues_only_stale_sagas_and_the_task_resumes(order, stock, monkeypatch):
    from monolith.orders import tasks

    _checkout_crashing(order, monkeypatch, "payments.payment_charge", after_real_call=True)  # undoes patches
    enqueued: list[str] = []
    monkeypatch.setattr(tasks.checkout_resume, "delay", enqueued.append)  # the broker is not under test
    assert tasks.checkouts_resume_stale() == 0  # fresh: maybe still running in its request
    _age(order, 120)
    assert tasks.checkouts_resume_stale() == 1
    assert enqueued == [str(order.id)]
    assert tasks.checkout_resume(enqueued[0]) == "confirmed"
    _assert_confirmed_once(order, stock)
