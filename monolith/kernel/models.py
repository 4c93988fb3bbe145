"""Infrastructure tables every context uses: the transactional outbox, the consumer inbox and
idempotency records. They hold envelopes and responses, never business rules."""

from django.core.serializers.json import DjangoJSONEncoder
from django.db import models


class OutboxMessage(models.Model):
    event_id = models.UUIDField(unique=True)
    event_type = models.CharField(max_length=120)
    envelope = models.JSONField(encoder=DjangoJSONEncoder)
    created_at = models.DateTimeField(auto_now_add=True)
    published_at = models.DateTimeField(null=True, blank=True, db_index=True)
    attempts = models.PositiveIntegerField(default=0)

    class Meta:
        indexes = [models.Index(fields=["published_at", "id"], name="outbox_pending_idx")]

    def __str__(self) -> str:
        return f"{self.event_type} {self.event_id}"


class InboxMessage(models.Model):
    """One row per (event, consumer) processed: a redelivered event finds its row and is skipped."""

    event_id = models.UUIDField()
    consumer = models.CharField(max_length=120)
    event_type = models.CharField(max_length=120)
    processed_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["event_id", "consumer"], name="inbox_once_per_consumer")]

    def __str__(self) -> str:
        return f"{self.consumer} <- {self.event_type} {self.event_id}"


class IdempotencyRecord(models.Model):
    PENDING = "pending"
    COMPLETED = "completed"

    scope = models.CharField(max_length=80)
    key = models.CharField(max_length=255)
    fingerprint = models.CharField(max_length=64)
    state = models.CharField(max_length=16, default=PENDING)
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    response_body = models.JSONField(null=True, blank=True, encoder=DjangoJSONEncoder)
    created_at = models.DateTimeField(db_index=True)
    locked_at = models.DateTimeField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["scope", "key"], name="idempotency_key_per_scope")]

    def __str__(self) -> str:
        return f"{self.scope}:{self.key} ({self.state})"
