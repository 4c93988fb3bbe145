"""The remote payments client against a live server: the monolith's own gunicorn on its own SQLite
file serves the internal payments API (the same paths the extracted service serves)."""

from __future__ import annotations

import datetime as dt
import time
import uuid

import pytest

from monolith.kernel.money import Money
from monolith.payments import interface, local
from monolith.payments.remote import PaymentsUnavailable, payments_client
from strangler.django.errors import Conflict, NotFound, Unprocessable
from strangler.proxy.types import BreakerState
from tests.live_payments import PaymentsServer, free_port

pytestmark = pytest.mark.integration



@pytest.fixture
def remote(settings, payments_server) -> PaymentsServer:
    """Payments served remotely by the running server; a fresh client (pool and breaker) per test."""
    payments_server.start()
    settings.PAYMENTS_IMPL = "remote"
    settings.PAYMENTS_SERVICE_URL = payments_server.url
    settings.PAYMENTS_SERVICE_AUDIENCE = "monolith"  # the server is the monolith's own gunicorn
    settings.PAYMENTS_RETRIES = 2
    settings.PAYMENTS_BREAKER_FAILURES = 3
    settings.PAYMENTS_BREAKER_RESET = 1.5
    return payments_server


def _charge(order_id: uuid.UUID | None = None, *, token: str = "tok_visa", amount: int = 4500,
            key: str | None = None) -> interface.PaymentDTO:
    order_id = order_id or uuid.uuid4()
    return interface.payment_charge(order_id=order_id, user_id=uuid.uuid4(), amount=Money(amount, "EUR"),
                                    card_token=token, idempotency_key=key or f"orders.checkout:{order_id}")


def test_a_captured_charge_maps_to_the_same_dto(remote):
    order_id = uuid.uuid4()
    payment = _charge(order_id)
    assert isinstance(payment, interface.PaymentDTO)
    assert (payment.order_id, payment.status, payment.failure_reason) == (order_id, "captured", "")
    assert (payment.amount_minor, payment.currency, payment.captured_minor, payment.refunded_minor) == (
        4500, "EUR", 4500, 0)
    assert payment.processor_ref
    assert isinstance(payment.id, uuid.UUID)
    assert payment.created_at.tzinfo is not None
    assert abs(payment.created_at - dt.datetime.now(tz=dt.UTC)) < dt.timedelta(minutes=1)


def test_a_refused_charge_is_a_failed_payment(remote):
    payment = _charge(token="tok_chargeDeclined")
    assert (payment.status, payment.failure_reason, payment.captured_minor) == ("failed", "card_declined", 0)


def test_a_replay_with_the_same_key_returns_the_first_payment_without_charging_again(remote):
    order_id = uuid.uuid4()
    user_id = uuid.uuid4()
    key = f"orders.checkout:{order_id}"
    first, second = (interface.payment_charge(order_id=order_id, user_id=user_id, amount=Money(4500, "EUR"),
                                              card_token="tok_visa", idempotency_key=key) for _ in range(2))
    assert first == second
    assert interface.payments_list_by_order(order_id=order_id) == [first]
    with pytest.raises(Unprocessable) as exc:  # the same key for another charge is refused, not charged
        interface.payment_charge(order_id=order_id, user_id=user_id, amount=Money(4600, "EUR"),
                                 card_token="tok_visa", idempotency_key=key)
    assert exc.value.code == "idempotency_key_reused"


def test_get_and_list_by_order(remote):
    order_id = uuid.uuid4()
    failed = _charge(order_id, token="tok_chargeDeclined", key=f"k1:{order_id}")
    captured = _charge(order_id, key=f"k2:{order_id}")
    assert interface.payment_get(payment_id=captured.id) == captured
    assert interface.payments_list_by_order(order_id=order_id) == [failed, captured]
    assert interface.payments_list_by_order(order_id=uuid.uuid4()) == []
    with pytest.raises(NotFound) as exc:
        interface.payment_get(payment_id=uuid.uuid4())
    assert (exc.value.status_code, exc.value.code) == (404, "payment_not_found")


def test_refunds_and_their_refusals(remote):
    payment = _charge()
    key = f"orders.refund:{payment.id}:1"
    refund = interface.payment_refund(payment_id=payment.id, amount=Money(1000, "EUR"), idempotency_key=key)
    assert isinstance(refund, interface.RefundDTO)
    assert (refund.payment_id, refund.amount_minor, refund.currency, refund.refunded_total_minor) == (
        payment.id, 1000, "EUR", 1000)
    assert interface.payment_refund(payment_id=payment.id, amount=Money(1000, "EUR"), idempotency_key=key) == refund

    with pytest.raises(Conflict) as exc:
        interface.payment_refund(payment_id=payment.id, amount=Money(9000, "EUR"), idempotency_key=f"{key}:big")
    assert (exc.value.status_code, exc.value.code) == (409, "refund_exceeds_captured")
    assert exc.value.fields == {"amount_minor": ["must be <= 3500"]}
    with pytest.raises(Unprocessable) as exc:
        interface.payment_refund(payment_id=payment.id, amount=Money(100, "USD"), idempotency_key=f"{key}:usd")
    assert (exc.value.status_code, exc.value.code) == (422, "currency_mismatch")
    with pytest.raises(NotFound):
        interface.payment_refund(payment_id=uuid.uuid4(), amount=None, idempotency_key=f"{key}:none")

    rest = interface.payment_refund(payment_id=payment.id, amount=None, idempotency_key=f"{key}:rest")
    assert (rest.amount_minor, rest.refunded_total_minor) == (3500, 4500)
    with pytest.raises(Conflict) as exc:
        interface.payment_refund(payment_id=payment.id, amount=None, idempotency_key=f"{key}:again")
    assert exc.value.code == "already_refunded"
    assert interface.payment_get(payment_id=payment.id).refunded_minor == 4500

    declined = _charge(token="tok_chargeDeclined")
    with pytest.raises(Conflict) as exc:
        interface.payment_refund(payment_id=declined.id, amount=None, idempotency_key=f"{key}:declined")
    assert exc.value.code == "payment_not_captured"


def test_a_dead_service_is_unavailable_and_the_breaker_fails_fast(remote):
    payment = _charge()
    remote.stop()
    try:
        with pytest.raises(PaymentsUnavailable) as exc:
            _charge()
        assert (exc.value.status_code, exc.value.code) == (503, "payments_unavailable")
        assert exc.value.retry_after >= 1
        assert payments_client().breaker.state is BreakerState.OPEN  # 3 attempts, 3 failures

        # Open: the next call fails fast, without going out.
        started = time.monotonic()
        with pytest.raises(PaymentsUnavailable, match="circuit open") as exc:
            interface.payment_refund(payment_id=payment.id, amount=None, idempotency_key=f"r:{payment.id}")
        assert time.monotonic() - started < 0.1
        assert exc.value.retry_after >= 1

        # Back (however long gunicorn takes to start on a loaded machine: the breaker's reset may
        # pass meanwhile), then half-open: the probe goes through and closes the breaker.
        remote.start()
        deadline = time.monotonic() + 30
        while payments_client().breaker.state is BreakerState.OPEN and time.monotonic() < deadline:
            time.sleep(0.05)
        refund = interface.payment_refund(payment_id=payment.id, amount=None, idempotency_key=f"r:{payment.id}")
        assert refund.refunded_total_minor == 4500
        assert payments_client().breaker.state is BreakerState.CLOSED
    finally:
        remote.start()


def test_reads_fall_back_to_the_local_copy_and_writes_raise(remote, db, settings):
    order_id = uuid.uuid4()
    copy = local.payment_charge(order_id=order_id, user_id=uuid.uuid4(), amount=Money(700, "EUR"),
                                card_token="tok_visa", idempotency_key=f"orders.checkout:{order_id}")
    settings.PAYMENTS_SERVICE_URL = f"http://127.0.0.1:{free_port()}"  # nobody listens there
    assert interface.payment_get(payment_id=copy.id) == copy
    assert interface.payments_list_by_order(order_id=order_id) == [copy]
    with pytest.raises(PaymentsUnavailable):
        interface.payment_refund(payment_id=copy.id, amount=None, idempotency_key=f"r:{copy.id}")
    with pytest.raises(PaymentsUnavailable):
        _charge(order_id)
    assert local.payments_list_by_order(order_id=order_id) == [copy]  # nothing charged here instead


def test_a_wrong_internal_secret_is_a_bad_gateway_not_an_outage(remote, settings):
    settings.INTERNAL_AUTH_SECRET = "not-the-shared-secret"
    with pytest.raises(Exception) as exc:
        _charge()
    assert not isinstance(exc.value, PaymentsUnavailable)
    assert (exc.value.status_code, exc.value.code) == (502, "payments_bad_gateway")


def test_follow_mode_moves_charges_between_sides_with_one_flip(remote, db, settings, tmp_path):
    from strangler.control.store import open_store
    from strangler.proxy.config import parse_config
    from strangler.proxy.types import Mode, RouteState

    table = parse_config({
        "targets": {"monolith": {"url": "http://127.0.0.1:1"}, "payments": {"url": remote.url}},
        "routes": [{"name": "payments", "prefix": "/api/v1/payments", "service": "payments"}],
    }).table
    settings.PAYMENTS_IMPL = "follow"
    settings.STRANGLER_STORE_URL = f"sqlite:///{tmp_path}/routes.db"
    settings.PAYMENTS_ROUTE_CACHE_SECONDS = 0
    with open_store(settings.STRANGLER_STORE_URL, table) as store:
        here = _charge()
        assert local.payments_list_by_order(order_id=here.order_id) == [here]

        store.set_state("payments", RouteState(Mode.SERVICE, 100), actor="test", reason="cut over")
        there = _charge()
        assert local.payments_list_by_order(order_id=there.order_id) == []
        assert payments_client().payments_list_by_order(order_id=there.order_id) == [there]
