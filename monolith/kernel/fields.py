"""Strict serializer fields: DRF's defaults coerce "10", 10.0 and 5 (as a UUID) which money must not."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from monolith.kernel.money import CURRENCIES, MAX_AMOUNT_MINOR


class StrictIntegerField(serializers.IntegerField):
    default_error_messages = {"invalid": "Must be a JSON integer."}

    def to_internal_value(self, data: Any) -> int:
        if isinstance(data, bool) or not isinstance(data, int):
            self.fail("invalid")
        return super().to_internal_value(data)


class AmountMinorField(StrictIntegerField):
    """An amount in integer minor units (cents): never a float, a string or a bool."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("min_value", 1)
        kwargs.setdefault("max_value", MAX_AMOUNT_MINOR)
        super().__init__(**kwargs)


class StrictCharField(serializers.CharField):
    """Only a JSON string, taken as sent (no trimming: " EUR" is not "EUR")."""

    default_error_messages = {"invalid": "Must be a JSON string."}

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("trim_whitespace", False)
        super().__init__(**kwargs)

    def to_internal_value(self, data: Any) -> str:
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


@extend_schema_field({"type": "string", "enum": sorted(CURRENCIES), "description": "ISO 4217 code"})
class CurrencyField(StrictCharField):
    default_error_messages = {"unknown": "Unknown ISO 4217 currency {value!r}."}

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("min_length", 3)
        kwargs.setdefault("max_length", 3)
        super().__init__(**kwargs)

    def to_internal_value(self, data: Any) -> str:
        value = super().to_internal_value(data)
        if value not in CURRENCIES:
            self.fail("unknown", value=value)
        return value


class StrictUUIDField(serializers.UUIDField):
    def to_internal_value(self, data: Any):
        if not isinstance(data, str):
            self.fail("invalid", value=data)
        return super().to_internal_value(data)
