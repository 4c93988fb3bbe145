"""Card processor adapters. Services talk to a PaymentProcessor, never to a vendor SDK directly.

Processors deduplicate on the idempotency key (as real ones do, Stripe's rule), so retrying a charge
whose outcome we never saw is safe: the retry is answered with the first outcome, never a second
charge. ``ProcessorTimeout`` means exactly that: the outcome is unknown, the card may have been
charged; only asking again with the same key tells.
"""

from __future__ import annotations

import dataclasses
import hashlib
import threading
from collections import Counter
from typing import ClassVar, Protocol

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


_SUCCEED, _TIMEOUT, _CHARGE_THEN_TIMEOUT = "succeed", "timeout", "charge_then_timeout"

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
    # Charges the card, then the answer is lost (the first call for a key times out); asking again
    # with the same key is answered with that charge.
    "tok_chargeThenTimeout": _CHARGE_THEN_TIMEOUT,
    "4000000000000259": _CHARGE_THEN_TIMEOUT,
}


def _ref(prefix: str, idempotency_key: str) -> str:
    return f"{prefix}_{hashlib.sha256(idempotency_key.encode()).hexdigest()[:24]}"


class FakeProcessor:
    """Deterministic: the outcome depends on the token only; unknown tokens are declined as invalid_card.

    Like a real processor it keeps a ledger (per process): the first answer given for an idempotency
    key is the answer to every later call with that key, and ``captures(key)`` / ``refunds(key)``
    count the money actually moved, which tests assert on.
    """

    _lock: ClassVar[threading.Lock] = threading.Lock()
    _charges: ClassVar[dict[str, ChargeResult]] = {}
    _refunds: ClassVar[dict[str, RefundResult]] = {}
    _captured: ClassVar[Counter] = Counter()
    _refunded: ClassVar[Counter] = Counter()

    def charge(self, *, token: str, amount: Money, idempotency_key: str) -> ChargeResult:
        with self._lock:
            known = self._charges.get(idempotency_key)
            if known is not None:
                return known
            outcome = _FAKE_CARDS.get(token, "invalid_card")
            if outcome == _TIMEOUT:
                raise ProcessorTimeout(f"processor did not answer for {idempotency_key}")
            ref = _ref("fake_ch", idempotency_key)
            if outcome in (_SUCCEED, _CHARGE_THEN_TIMEOUT):
                result = ChargeResult(succeeded=True, processor_ref=ref)
                self._captured[idempotency_key] += 1
            else:
                result = ChargeResult(succeeded=False, processor_ref=ref, failure_code=outcome)
            self._charges[idempotency_key] = result
        if outcome == _CHARGE_THEN_TIMEOUT:
            raise ProcessorTimeout(f"processor charged {idempotency_key} but the answer was lost")
        return result

    def refund(self, *, charge_ref: str, amount: Money, idempotency_key: str) -> RefundResult:
        with self._lock:
            known = self._refunds.get(idempotency_key)
            if known is None:
                known = self._refunds[idempotency_key] = RefundResult(processor_ref=_ref("fake_re", idempotency_key))
                self._refunded[idempotency_key] += 1
            return known

    @classmethod
    def captures(cls, idempotency_key: str | None = None) -> int:
        """Charges that took money: for one key, or in all."""
        with cls._lock:
            return cls._captured[idempotency_key] if idempotency_key else sum(cls._captured.values())

    @classmethod
    def refunds(cls, idempotency_key: str | None = None) -> int:
        with cls._lock:
            return cls._refunded[idempotency_key] if idempotency_key else sum(cls._refunded.values())

    @classmethod
    def ledger_reset(cls) -> None:
        """Forget every key (tests: each starts with an empty processor)."""
        with cls._lock:
            cls._charges.clear()
            cls._refunds.clear()
            cls._captured.clear()
            cls._refunded.clear()


_PROCESSORS: dict[str, type] = {"fake": FakeProcessor}


def processor_get() -> PaymentProcessor:
    name = settings.PAYMENTS_PROCESSOR
    try:
        return _PROCESSORS[name]()
    except KeyError:
        raise ImproperlyConfigured(f"unknown PAYMENTS_PROCESSOR {name!r}; known: {sorted(_PROCESSORS)}") from None
