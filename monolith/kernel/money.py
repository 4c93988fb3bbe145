"""Money as integer minor units plus an ISO 4217 code; never floats."""

from __future__ import annotations

from dataclasses import dataclass

# ISO 4217 codes the shop accepts, with their minor-unit exponent.
CURRENCIES: dict[str, int] = {
    "USD": 2, "EUR": 2, "GBP": 2, "CHF": 2, "CAD": 2, "AUD": 2, "SEK": 2, "NOK": 2, "DKK": 2,
    "PLN": 2, "CZK": 2, "NZD": 2, "SGD": 2, "HKD": 2, "MXN": 2, "BRL": 2, "INR": 2, "CNY": 2,
    "JPY": 0, "KRW": 0, "ISK": 0, "KWD": 3, "BHD": 3, "JOD": 3,
}

MAX_AMOUNT_MINOR = 10**12  # a sanity bound; no shop order comes near it


class MoneyError(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class Money:
    amount_minor: int
    currency: str

    def __post_init__(self) -> None:
        # bool is an int subclass; True is not an amount
        if not isinstance(self.amount_minor, int) or isinstance(self.amount_minor, bool):
            raise MoneyError("amount must be an integer number of minor units")
        if self.amount_minor < 0 or self.amount_minor > MAX_AMOUNT_MINOR:
            raise MoneyError("amount out of range")
        if self.currency not in CURRENCIES:
            raise MoneyError(f"unknown currency {self.currency!r}")

    def __add__(self, other: Money) -> Money:
        self._same_currency(other)
        return Money(self.amount_minor + other.amount_minor, self.currency)

    def __sub__(self, other: Money) -> Money:
        self._same_currency(other)
        return Money(self.amount_minor - other.amount_minor, self.currency)

    def times(self, quantity: int) -> Money:
        return Money(self.amount_minor * quantity, self.currency)

    def _same_currency(self, other: Money) -> None:
        if other.currency != self.currency:
            raise MoneyError(f"currency mismatch: {self.currency} vs {other.currency}")

    @classmethod
    def zero(cls, currency: str) -> Money:
        return cls(0, currency)
