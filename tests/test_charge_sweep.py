"""The payments sweep settles a direct charge whose processor answer was lost and whose client never
retries: it asks the processor again with the same key (monolith.payments.tasks)."""

import uuid

from django.core.management import call_command

from monolith.catalog import interface as catalog
from monolith.kernel.money import Money
from monolith.orders.services import OrderLineInput, order_create
from monolith.payments import tasks as payment_tasks
from monolith.payments.models import ChargeAttempt, Payment


def test_the_payments_sweep_settles_a_direct_charge_nobody_retries(auth_client, user, fake_processor_ledger):
    mug = catalog.product_create(sku="mug", name="Mug", price=Money(1250, "EUR"))
    order = order_create(user_id=user.id, lines=[OrderLineInput(product_id=mug.id, quantity=1)])
    body = {"order_id": str(order.id), "amount_minor": 1999, "currency": "EUR", "card_token": "tok_chargeThenTimeout"}
    first = auth_client.post("/api/v1/payments/", body, format="json", HTTP_IDEMPOTENCY_KEY="p-1")
    assert first.status_code == 202
    assert payment_tasks.charges_resolve_unknown() == 0  # fresh: its client may still retry
    Payment.objects.filter(pk=first.json()["id"]).update(updated_at="2000-01-01T00:00:00Z")
    assert payment_tasks.charges_resolve_unknown() == 1  # the beat task asked again with the same key
    payment = Payment.objects.get(pk=first.json()["id"])
    assert (payment.status, payment.failure_reason) == ("captured", "")
    assert not ChargeAttempt.objects.exists()  # the token is gone once the charge settled
    call_command("resolve_charges", older_than=0)  # the command is the same sweep: nothing left
    late = auth_client.post("/api/v1/payments/", body, format="json", HTTP_IDEMPOTENCY_KEY="p-1")
    assert (late.status_code, late.json()["status"]) == (201, "captured")
    assert fake_processor_ledger.captures() == 1


def test_the_command_fails_while_an_outcome_is_still_unknown(auth_client, user):
    import pytest
    from django.core.management.base import CommandError

    response = auth_client.post("/api/v1/payments/", {
        "order_id": str(order_create(user_id=user.id, lines=[OrderLineInput(
            product_id=catalog.product_create(sku="tee", name="Tee", price=Money(100, "EUR")).id,
            quantity=1)]).id),
        "amount_minor": 100, "currency": "EUR", "card_token": "tok_processorTimeout"},
        format="json", HTTP_IDEMPOTENCY_KEY=str(uuid.uuid4()))
    assert response.status_code == 202
    with pytest.raises(CommandError, match="1 charge"):
        call_command("resolve_charges", older_than=0)


def test_the_payments_sweep_finishes_a_refund_whose_answer_was_lost(auth_client, user, fake_processor_ledger,
                                                                     monkeypatch):
    """The processor made the refund but its answer was lost, and the client never retried: the
    reserved amount would stay locked and the refund would exist at the processor only. The sweep
    asks again with the same key and records the refund the processor made, once."""
    from monolith.payments.models import Refund, RefundAttempt
    from monolith.payments.processors import FakeProcessor, ProcessorTimeout

    mug = catalog.product_create(sku="mug", name="Mug", price=Money(1250, "EUR"))
    order = order_create(user_id=user.id, lines=[OrderLineInput(product_id=mug.id, quantity=1)])
    body = {"order_id": str(order.id), "amount_minor": 1999, "currency": "EUR", "card_token": "tok_visa"}
    payment = auth_client.post("/api/v1/payments/", body, format="json", HTTP_IDEMPOTENCY_KEY="p-2").json()
    refund_made = FakeProcessor.refund

    def refund_then_lose_the_answer(self, **kwargs):
        refund_made(self, **kwargs)
        raise ProcessorTimeout("refunded, but the answer was lost")

    monkeypatch.setattr(FakeProcessor, "refund", refund_then_lose_the_answer)
    lost = auth_client.post(f"/api/v1/payments/{payment['id']}/refunds/", {"amount_minor": 500, "currency": "EUR"},
                            format="json", HTTP_IDEMPOTENCY_KEY="r-1")
    assert lost.status_code == 504
    monkeypatch.setattr(FakeProcessor, "refund", refund_made)
    assert payment_tasks.refunds_resolve_unknown() == 0  # fresh: its client may still retry
    RefundAttempt.objects.update(created_at="2000-01-01T00:00:00Z")
    assert payment_tasks.refunds_resolve_unknown() == 1
    assert not RefundAttempt.objects.exists()
    refund = Refund.objects.get()  # the API scopes the client's key to its user
    assert (refund.amount_minor, Payment.objects.get(pk=payment["id"]).refunded_minor) == (500, 500)
    assert fake_processor_ledger.refunds() == 1
    assert payment_tasks.refunds_resolve_unknown() == 0  # nothing left
    late = auth_client.post(f"/api/v1/payments/{payment['id']}/refunds/", {"amount_minor": 500, "currency": "EUR"},
                            format="json", HTTP_IDEMPOTENCY_KEY="r-1")
    assert (late.status_code, late.json()["id"]) == (201, str(refund.id))
    assert fake_processor_ledger.refunds() == 1
