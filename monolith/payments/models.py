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


class ChargeAttempt(models.Model):
    """What a pending charge needs to be asked again (its card token), kept only until the payment
    settles: the sweep (``payments.charges_resolve_unknown``) re-asks the processor with the same key
    when the first answer was lost and nobody retries. Local bookkeeping: not synced."""

    payment = models.OneToOneField(Payment, on_delete=models.CASCADE, primary_key=True,
                                   related_name="charge_attempt")
    card_token = models.CharField(max_length=200)
    created_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"charge attempt of {self.payment_id}"


class RefundAttempt(models.Model):
    """A refund asked of the processor whose answer is not recorded yet: it reserves its amount
    (refunds in flight and done never exceed the captured amount) and survives a lost answer, so
    the retry with the same key asks the processor again with that key. Deleted when the Refund
    row is written. Local bookkeeping of the store that started the refund: not synced."""

    payment = models.ForeignKey(Payment, on_delete=models.PROTECT, related_name="refund_attempts")
    amount_minor = models.PositiveBigIntegerField()
    currency = models.CharField(max_length=3)
    idempotency_key = models.CharField(max_length=400, unique=True)
    created_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"refund attempt {self.idempotency_key} of {self.payment_id}"

