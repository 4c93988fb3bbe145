import pytest

from monolith.payments.processors import FakeProcessor


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


