"""Events the payments context publishes. After the cut the payments service publishes the same."""

import dataclasses
import uuid
from typing import ClassVar

from strangler.django.events import Event


@dataclasses.dataclass(frozen=True, kw_only=True)
class PaymentCaptured(Event):
    type_name: ClassVar[str] = "payments.PaymentCaptured"
    payment_id: uuid.UUID
    order_id: uuid.UUID
    user_id: uuid.UUID
    amount_minor: int
    currency: str


@dataclasses.dataclass(frozen=True, kw_only=True)
class PaymentFailed(Event):
    type_name: ClassVar[str] = "payments.PaymentFailed"
    payment_id: uuid.UUID
    order_id: uuid.UUID
    user_id: uuid.UUID
    amount_minor: int
    currency: str
    reason: str  # "card_declined" | "insufficient_funds" | "processor_timeout" | ...


@dataclasses.dataclass(frozen=True, kw_only=True)
class PaymentRefunded(Event):
    type_name: ClassVar[str] = "payments.PaymentRefunded"
    payment_id: uuid.UUID
    refund_id: uuid.UUID
    order_id: uuid.UUID
    amount_minor: int
    currency: str
    refunded_total_minor: int


@dataclasses.dataclass(frozen=True, kw_only=True)
class PaymentSynced(Event):
    """The whole state of one payment after a write, for the other store during a cutover.

    ``payment`` and ``refunds`` are JSON-safe snapshots (monolith.payments.sync.payment_snapshot);
    ``origin`` ("monolith" | "payments-service") lets each side ignore its own snapshots.
    """

    type_name: ClassVar[str] = "payments.PaymentSynced"
    payment: dict
    refunds: list
    origin: str


@dataclasses.dataclass(frozen=True, kw_only=True)
class IdempotencyRecordSynced(Event):
    """A completed Idempotency-Key answer of the payments API (scope ``payments.*``), for the other
    store during a cutover: a client's replay after the cut gets the first answer there too.
    ``record`` is the row in the field set of the backfill's idempotency_records."""

    type_name: ClassVar[str] = "payments.IdempotencyRecordSynced"
    record: dict
    origin: str
