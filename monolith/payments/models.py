"""Payments owns charges and refunds. order_id/user_id are references into other contexts."""

from django.db import models

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
    created_at = models.DateTimeField(auto_now_add=True)
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
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at"]

    def __str__(self) -> str:
        return f"refund {self.id} of {self.payment_id}"
