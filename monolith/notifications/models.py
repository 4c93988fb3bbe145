"""The record of every notification attempt: one row per event, sent or failed."""

import uuid

from django.db import models


class Notification(models.Model):
    class Kind(models.TextChoices):
        ORDER_CONFIRMED = "order_confirmed"
        PAYMENT_FAILED = "payment_failed"

    class Status(models.TextChoices):
        SENT = "sent"
        FAILED = "failed"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    # One notification per event: a redelivered event finds this row and sends nothing.
    event_id = models.UUIDField(unique=True)
    user_id = models.UUIDField(db_index=True)  # a users-context id; never a ForeignKey
    kind = models.CharField(max_length=32, choices=Kind.choices)
    to = models.CharField(max_length=254, blank=True, default="")
    subject = models.CharField(max_length=200)
    status = models.CharField(max_length=16, choices=Status.choices)
    error = models.TextField(blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.kind} to {self.to or self.user_id}: {self.status}"
