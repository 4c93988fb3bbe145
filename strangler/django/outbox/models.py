"""The event tables of a project: the transactional outbox and the consumers' inbox. They hold
envelopes, never business rules."""

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


class OutboxDelivery(models.Model):
    """One published event on its way to one queue, until that queue's worker acknowledges it (the
    row is then deleted: the table holds only what is in flight). The relay sends an unacknowledged
    delivery again at ``resend_at`` (strangler.django.outbox.acks): a broker that lost it loses nothing."""

    message = models.ForeignKey(OutboxMessage, on_delete=models.CASCADE, related_name="deliveries")
    queue = models.CharField(max_length=120)
    sent_at = models.DateTimeField()  # the last send
    sends = models.PositiveIntegerField(default=1)
    resend_at = models.DateTimeField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["message", "queue"], name="outbox_delivery_once_per_queue")]
        indexes = [models.Index(fields=["resend_at"], name="outbox_delivery_resend_idx")]

    def __str__(self) -> str:
        return f"{self.message_id} -> {self.queue}: {self.sends} send(s), unacknowledged"


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


class ConsumerFailure(models.Model):
    """A consumer that failed on an event (strangler.django.outbox.failures). The other consumers of
    the event went on; this one is retried on its own, with backoff, until ``next_attempt_at`` is
    None: then it is a dead letter (after the bounded attempts, or at once when the consumer said
    the envelope can never be applied), kept for a person (``manage.py strangler_dead_letters``
    lists, retries and discards them) and counted on the dashboard."""

    event_id = models.UUIDField()
    event_type = models.CharField(max_length=120)
    consumer = models.CharField(max_length=120)
    envelope = models.JSONField(encoder=DjangoJSONEncoder)
    error = models.TextField()
    attempts = models.PositiveIntegerField(default=1)
    first_failed_at = models.DateTimeField()
    last_failed_at = models.DateTimeField()
    next_attempt_at = models.DateTimeField(null=True, blank=True)  # None: a dead letter

    class Meta:
        constraints = [models.UniqueConstraint(fields=["event_id", "consumer"], name="consumer_failure_once")]
        indexes = [models.Index(fields=["next_attempt_at"], name="consumer_failure_due_idx")]

    def __str__(self) -> str:
        return f"{self.consumer} <- {self.event_type} {self.event_id}: {'dead' if self.dead else 'retrying'}"

    @property
    def dead(self) -> bool:
        return self.next_attempt_at is None
