"""Payments owns charges and refunds. order_id/user_id are references into other contexts.

Ids are derived from idempotency keys by the services (monolith.kernel.ids), and created_at is a
plain default rather than auto_now_add, so a row copied from the other store (sync, backfill)
keeps its identity and its original time.
"""

from django.db import models
from django.utils import timezone

from monolith.kernel.ids import new_id


class Payment(models.Model):
    PENDING = "pending"
    CAPTURED = "captured"
    FAILED = "failed"
    STATUSES = [(PENDING, "pending"), (CAPTURED, "captured"), (FAILED, "failed")]

    id = models.UUIDField(primary_key=True, default=new_id, editable=False)
    order_id = models.UUIDField(db_index=True)
    user_id = models.UUIDField(db_index=True)
    amount_minor = models.PositiveBigIntegerField()
    currency = models.CharField(max_length=3)
    status = models.CharField(max_length=16, choices=STATUSES, default=PENDING)
    failure_reason = models.CharField(max_length=64, blank=True, default="")
    processor_ref = models.CharField(max_length=128, blank=True, default="")
    captured_minor = models.PositiveBigIntegerField(default=0)
    refunded_minor = models.PositiveBigIntegerField(default=0)
    # The caller's key (API: user + Idempotency-Key header; orders: derived from the order id).
    idempotency_key = models.CharField(max_length=400, unique=True)
    # 1 at claim, 2 once settled, +1 per refund: sync keeps the copy with the higher revision.
    revision = models.PositiveIntegerField(default=1)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["created_at"]
        constraints = [
            models.CheckConstraint(condition=models.Q(refunded_minor__lte=models.F("captured_minor")),
                                   name="payment_refunds_within_captured"),
            models.CheckConstraint(condition=models.Q(captured_minor__lte=models.F("amount_minor")),
                                   name="payment_captured_within_amount"),
        ]

    def __str__(self) -> str:
        return f"payment {self.id} ({self.status})"


class Refund(models.Model):
    id = models.UUIDField(primary_key=True, default=new_id, editable=False)
    payment = models.ForeignKey(Payment, on_delete=models.PROTECT, related_name="refunds")
    amount_minor = models.PositiveBigIntegerField()
    currency = models.CharField(max_length=3)
    processor_ref = models.CharField(max_length=128, blank=True, default="")
    idempotency_key = models.CharField(max_length=400, unique=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["created_at"]

    def __str__(self) -> str:
        return f"refund {self.id} of {self.payment_id}"


class SyncCheckpoint(models.Model):
    """How far a resumable copy (payments_backfill) got: it restarts from ``position`` after a crash.

    ``position`` is the command's own JSON (phase, last key sent, counts); ``copied`` the rows
    acknowledged by the target so far.
    """

    name = models.CharField(max_length=200, unique=True)
    position = models.TextField(blank=True, default="")
    copied = models.BigIntegerField(default=0)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"checkpoint {self.name}: {self.copied} copied"
