"""Card processor adapters. Services talk to a PaymentProcessor, never to a vendor SDK directly.

Processors deduplicate on the idempotency key (as real ones do), so retrying a charge whose
outcome we never saw is safe.
"""

from __future__ import annotations

import dataclasses
import hashlib
from typing import Protocol

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from monolith.kernel.money import Money


@dataclasses.dataclass(frozen=True, slots=True)
class ChargeResult:
    succeeded: bool
    processor_ref: str
    failure_code: str = ""  # "card_declined" | "insufficient_funds" | "invalid_card" | ...


@dataclasses.dataclass(frozen=True, slots=True)
class RefundResult:
    processor_ref: str


class ProcessorTimeout(Exception):
    """The processor did not answer in time; the charge outcome is unknown to us."""


class PaymentProcessor(Protocol):
    def charge(self, *, token: str, amount: Money, idempotency_key: str) -> ChargeResult: ...

    def refund(self, *, charge_ref: str, amount: Money, idempotency_key: str) -> RefundResult: ...


_SUCCEED, _TIMEOUT = "succeed", "timeout"

# Stripe-style test tokens and card numbers.
_FAKE_CARDS: dict[str, str] = {
    "tok_visa": _SUCCEED,
    "4242424242424242": _SUCCEED,
    "tok_mastercard": _SUCCEED,
    "5555555555554444": _SUCCEED,
    "tok_chargeDeclined": "card_declined",
    "4000000000000002": "card_declined",
    "tok_chargeDeclinedInsufficientFunds": "insufficient_funds",
    "4000000000009995": "insufficient_funds",
    "tok_chargeDeclinedExpiredCard": "expired_card",
    "4000000000000069": "expired_card",
    "tok_processorTimeout": _TIMEOUT,
    "4000000000000119": _TIMEOUT,
}


def _ref(prefix: str, idempotency_key: str) -> str:
    return f"{prefix}_{hashlib.sha256(idempotency_key.encode()).hexdigest()[:24]}"


class FakeProcessor:
    """Deterministic: the outcome depends on the token only; unknown tokens are declined as invalid_card."""

    def charge(self, *, token: str, amount: Money, idempotency_key: str) -> ChargeResult:
        outcome = _FAKE_CARDS.get(token, "invalid_card")
        if outcome == _TIMEOUT:
            raise ProcessorTimeout(f"processor did not answer for {idempotency_key}")
        ref = _ref("fake_ch", idempotency_key)
        if outcome == _SUCCEED:
            return ChargeResult(succeeded=True, processor_ref=ref)
        return ChargeResult(succeeded=False, processor_ref=ref, failure_code=outcome)

    def refund(self, *, charge_ref: str, amount: Money, idempotency_key: str) -> RefundResult:
        return RefundResult(processor_ref=_ref("fake_re", idempotency_key))


_PROCESSORS: dict[str, type] = {"fake": FakeProcessor}


def processor_get() -> PaymentProcessor:
    name = settings.PAYMENTS_PROCESSOR
    try:
        return _PROCESSORS[name]()
    except KeyError:
        raise ImproperlyConfigured(f"unknown PAYMENTS_PROCESSOR {name!r}; known: {sorted(_PROCESSORS)}") from None
