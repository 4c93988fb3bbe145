"""strangler.django.testing's guard: a call out made inside an open transaction fails the test, and
the bus runs consumers that call out with no transaction open."""

import http.client
import uuid

import pytest
import requests
from django.db import transaction

from strangler.django.outbox import bus
from strangler.django.outbox.models import InboxMessage
from strangler.django.testing import NetworkGuard, NetworkInTransaction, transactions_open

pytestmark = pytest.mark.django_db


class Processor:
    def charge(self, *, key: str) -> str:
        return f"charged {key}"


def _envelope():
    return {"type": "tests.Paid", "event_id": str(uuid.uuid4()), "occurred_at": "2026-01-01T00:00:00+00:00",
            "version": 1, "payload": {}}


def test_the_test_cases_own_transaction_does_not_count():
    assert transaction.get_connection().in_atomic_block  # pytest-django's wrapping block
    assert transactions_open() == []
    with transaction.atomic():
        assert transactions_open() == ["default"]


@pytest.mark.parametrize("call", [
    lambda: requests.get("http://127.0.0.1:9/", timeout=1),
    lambda: http.client.HTTPConnection("127.0.0.1", 9, timeout=1).request("GET", "/"),
    lambda: Processor().charge(key="k"),
])
def test_a_call_out_inside_a_transaction_is_caught_before_it_leaves(call):
    with NetworkGuard(calls=(f"{__name__}.Processor.charge",)) as guard:
        with pytest.raises(NetworkInTransaction), transaction.atomic():
            call()
    assert len(guard.violations) == 1 and "commit first" in guard.violations[0]
    assert Processor().charge(key="k") == "charged k"  # unpatched on exit


def test_a_swallowed_violation_is_still_recorded():
    with NetworkGuard(calls=(f"{__name__}.Processor.charge",)) as guard, transaction.atomic():
        try:
            Processor().charge(key="k")
        except Exception:  # code under test that catches everything
            pass
    assert len(guard.violations) == 1


def test_calls_outside_a_transaction_go_through():
    with NetworkGuard(calls=(f"{__name__}.Processor.charge",)) as guard:
        assert Processor().charge(key="k") == "charged k"
        with pytest.raises(requests.ConnectionError):
            requests.get("http://127.0.0.1:9/", timeout=1)  # it left: nobody listens there
    assert guard.violations == []


def test_a_consumer_that_calls_out_runs_with_no_transaction_open(registry):
    seen = []
    bus.subscribe("tests.Paid", consumer="calls-out", calls_out=True)(lambda e: seen.append(transactions_open()))
    bus.subscribe("tests.Paid", consumer="local")(lambda e: seen.append(transactions_open()))
    envelope = _envelope()
    assert bus.dispatch(envelope) == 2
    assert seen == [[], ["default"]]  # the plain consumer runs inside its inbox transaction
    assert set(InboxMessage.objects.values_list("consumer", flat=True)) == {"calls-out", "local"}
    assert bus.dispatch(envelope) == 0 and len(seen) == 2


def test_a_failed_consumer_that_calls_out_runs_again_on_redelivery(registry):
    attempts = []

    def flaky(envelope):
        attempts.append(1)
        if len(attempts) == 1:
            raise ConnectionError("the service hung up")

    bus.subscribe("tests.Paid", consumer="calls-out", calls_out=True)(flaky)
    envelope = _envelope()
    with pytest.raises(ConnectionError):
        bus.dispatch(envelope)
    assert not InboxMessage.objects.exists()
    assert bus.dispatch(envelope) == 1 and len(attempts) == 2


def test_a_consumer_that_calls_out_refuses_to_run_inside_a_transaction(registry):
    bus.subscribe("tests.Paid", consumer="calls-out", calls_out=True)(lambda e: None)
    with pytest.raises(RuntimeError, match="outside a transaction"), transaction.atomic():
        bus.dispatch(_envelope())
