"""The record of every notification: one row per event, sent or failed, with its attempts."""

import uuid

from django.db import models


class Notification(models.Model):
    class Kind(models.TextChoices):
        ORDER_CONFIRMED = "order_confirmed"
        PAYMENT_FAILED = "payment_failed"

    class Status(models.TextChoices):
        SENDING = "sending"  # claimed: its send is under way, or was cut short (the sweep finishes it)
        SENT = "sent"
        FAILED = "failed"

    RESENDABLE = (Status.FAILED, Status.SENDING)  # once next_attempt_at is due

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    # One notification per event: a redelivered event finds this row and sends nothing.
    event_id = models.UUIDField(unique=True)
    user_id = models.UUIDField(db_index=True)  # a users-context id; never a ForeignKey
    kind = models.CharField(max_length=32, choices=Kind.choices)
    to = models.CharField(max_length=254, blank=True, default="")
    subject = models.CharField(max_length=200)
    status = models.CharField(max_length=16, choices=Status.choices)
    error = models.TextField(blank=True, default="")
    body = models.TextField(blank=True, default="")  # what a resend sends again
    attempts = models.PositiveIntegerField(default=1)
    # When the resend sweep tries the mail again (failed, or a sending claim run out); None once
    # sent or given up.
    next_attempt_at = models.DateTimeField(null=True, blank=True, db_index=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.kind} to {self.to or self.user_id}: {self.status}"
