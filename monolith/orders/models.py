"""Orders owns orders, their lines and the persisted checkout saga.

user_id, product_id and payment_id are references into other contexts: UUIDs, never foreign keys.
"""

from django.db import models

from monolith.kernel.ids import new_id


class Order(models.Model):
    PENDING = "pending"
    AWAITING_PAYMENT = "awaiting_payment"
    CONFIRMED = "confirmed"
    FAILED = "failed"
    CANCELLED = "cancelled"
    STATUSES = [(PENDING, "pending"), (AWAITING_PAYMENT, "awaiting payment"), (CONFIRMED, "confirmed"),
                (FAILED, "failed"), (CANCELLED, "cancelled")]

    id = models.UUIDField(primary_key=True, default=new_id, editable=False)
    user_id = models.UUIDField(db_index=True)
    status = models.CharField(max_length=20, choices=STATUSES, default=PENDING)
    total_minor = models.PositiveBigIntegerField()
    currency = models.CharField(max_length=3)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"order {self.id} ({self.status})"


class OrderLine(models.Model):
    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="lines")
    product_id = models.UUIDField()
    sku = models.CharField(max_length=64)
    quantity = models.PositiveIntegerField()
    unit_price_minor = models.PositiveBigIntegerField()

    class Meta:
        ordering = ["id"]
        constraints = [models.UniqueConstraint(fields=["order", "product_id"], name="order_line_product_once")]

    def __str__(self) -> str:
        return f"{self.quantity} x {self.sku}"

    @property
    def line_total_minor(self) -> int:
        return self.quantity * self.unit_price_minor


class CheckoutSaga(models.Model):
    """Where a checkout got to. Each step commits before the next starts, so a crash leaves a
    resumable step; `resume_checkouts` drives stale ones forward or compensates them."""

    STARTED = "started"
    STOCK_RESERVED = "stock_reserved"
    PAYMENT_CHARGED = "payment_charged"
    CONFIRMED = "confirmed"
    COMPENSATED = "compensated"
    FAILED = "failed"
    STEPS = [(STARTED, "started"), (STOCK_RESERVED, "stock reserved"), (PAYMENT_CHARGED, "payment charged"),
             (CONFIRMED, "confirmed"), (COMPENSATED, "compensated"), (FAILED, "failed")]
    ACTIVE_STEPS = (STARTED, STOCK_RESERVED, PAYMENT_CHARGED)

    order = models.OneToOneField(Order, on_delete=models.CASCADE, primary_key=True, related_name="saga")
    step = models.CharField(max_length=20, choices=STEPS, default=STARTED)
    payment_id = models.UUIDField(null=True, blank=True)
    # Kept only while the saga is active so a resumed saga can still charge; cleared at the end.
    card_token = models.CharField(max_length=200, blank=True, default="")
    failure_reason = models.CharField(max_length=64, blank=True, default="")
    failure_message = models.CharField(max_length=300, blank=True, default="")
    attempts = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True, db_index=True)

    def __str__(self) -> str:
        return f"checkout of {self.order_id} at {self.step}"
