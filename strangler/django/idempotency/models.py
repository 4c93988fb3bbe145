"""Idempotency records: one claimed key per scope, then the first response stored for replays."""

from django.core.serializers.json import DjangoJSONEncoder
from django.db import models


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
    # The request that holds the claim: only it may release or complete it (a retry that took a
    # stale claim over gets a new owner, and the first request's late failure cannot delete it).
    owner = models.CharField(max_length=32, blank=True, default="", db_default="")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["scope", "key"], name="idempotency_key_per_scope")]

    def __str__(self) -> str:
        return f"{self.scope}:{self.key} ({self.state})"
