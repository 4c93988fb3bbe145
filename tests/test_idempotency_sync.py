"""A completed Idempotency-Key answer of payments travels with the context's continuous sync, so a
replay after the cut (on the other side) returns the first answer instead of running again."""

import uuid

import pytest

from monolith.catalog import interface as catalog
from monolith.kernel.money import Money
from monolith.payments.models import Payment
from strangler.django.idempotency.models import IdempotencyRecord
from strangler.django.outbox import bus
from strangler.django.outbox.models import OutboxMessage

EVENT = "payments.IdempotencyRecordSynced"


@pytest.fixture
def order(auth_client, db) -> dict:
    mug = catalog.product_create(sku="mug", name="Mug", price=Money(1250, "EUR"))
    catalog.stock_set(product_id=mug.id, on_hand=10)
    response = auth_client.post("/api/v1/orders/", {"lines": [{"product_id": str(mug.id), "quantity": 1}]},
                                format="json", HTTP_IDEMPOTENCY_KEY="o-1")
    return response.json()


def _charge(client, order_id, key):
    return client.post("/api/v1/payments/", {"order_id": order_id, "amount_minor": 1250, "currency": "EUR",
                                             "card_token": "tok_chargeDeclined"}, format="json",
                       HTTP_IDEMPOTENCY_KEY=key)


def test_a_completed_payments_answer_is_published_and_applied_on_the_other_side(auth_client, order, settings):
    first = _charge(auth_client, order["id"], "pay-1")
    assert first.status_code == 402
    [message] = OutboxMessage.objects.filter(event_type=EVENT)
    record = message.envelope["payload"]["record"]
    assert (record["key"], record["status_code"], record["state"]) == ("pay-1", 402, "completed")
    assert message.envelope["payload"]["origin"] == "monolith"

    # The other side (the payments service after the cut) holds the payment (PaymentSynced) but not
    # the answer: applying the record there makes its replay the first answer, not a second run.
    IdempotencyRecord.objects.filter(key="pay-1").delete()
    settings.PAYMENTS_ORIGIN = "payments-service"
    assert bus.dispatch(message.envelope) >= 1
    replay = _charge(auth_client, order["id"], "pay-1")
    assert (replay.status_code, replay.json(), replay.headers.get("Idempotent-Replayed")) == (402, first.json(),
                                                                                              "true")
    assert Payment.objects.count() == 1


def test_answers_of_other_contexts_are_not_published(auth_client, order):
    assert not OutboxMessage.objects.filter(event_type=EVENT).exists()  # the order's own key: orders scope
    assert IdempotencyRecord.objects.filter(key="o-1", state="completed").exists()


def test_a_passing_answer_is_not_published(auth_client, order):
    response = auth_client.post("/api/v1/payments/", {"order_id": order["id"], "amount_minor": 1250, "currency": "EUR",
                                                      "card_token": "tok_processorTimeout"}, format="json",
                                HTTP_IDEMPOTENCY_KEY=str(uuid.uuid4()))
    assert response.status_code == 202
    assert not OutboxMessage.objects.filter(event_type=EVENT).exists()
