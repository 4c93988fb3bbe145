"""The DTOs payments hands to other contexts, whichever implementation (local or remote) served.

Kept apart from interface.py so the remote client can build the very same classes without an
import cycle; callers still import them from ``monolith.payments.interface``.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import uuid

CAPTURED = "captured"
FAILED = "failed"
PENDING = "pending"


@dataclasses.dataclass(frozen=True, slots=True)
class PaymentDTO:
    id: uuid.UUID
    order_id: uuid.UUID
    user_id: uuid.UUID
    amount_minor: int
    currency: str
    status: str  # "pending" | "captured" | "failed"
    failure_reason: str  # "" unless failed: "card_declined" | "insufficient_funds" | "processor_timeout" | ...
    processor_ref: str
    captured_minor: int
    refunded_minor: int
    created_at: dt.datetime


@dataclasses.dataclass(frozen=True, slots=True)
class RefundDTO:
    id: uuid.UUID
    payment_id: uuid.UUID
    amount_minor: int
    currency: str
    refunded_total_minor: int
    created_at: dt.datetime
