import pytest

from monolith.payments.processors import FakeProcessor


def any_order_is_yours(*, order_id, user_id) -> bool:
    return True


@pytest.fixture(autouse=True)
def orders_stand_in(settings):
    """Payments is tested alone (it imports no other context): every order is the caller's here.
    The real check (monolith.config.wiring.order_owned) is tested in tests/test_order_ownership_and_cancel.py."""
    settings.PAYMENTS_ORDER_OWNED = f"{__name__}.any_order_is_yours"


@pytest.fixture
def processor_calls(monkeypatch):
    """Every call that reached the processor, as (method, idempotency_key)."""
    calls: list[tuple[str, str]] = []
    charge, refund = FakeProcessor.charge, FakeProcessor.refund

    def counting_charge(self, **kwargs):
        calls.append(("charge", kwargs["idempotency_key"]))
        return charge(self, **kwargs)

    def counting_refund(self, **kwargs):
        calls.append(("refund", kwargs["idempotency_key"]))
        return refund(self, **kwargs)

    monkeypatch.setattr(FakeProcessor, "charge", counting_charge)
    monkeypatch.setattr(FakeProcessor, "refund", counting_refund)
    return calls


