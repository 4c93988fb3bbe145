"""Conflicts the sync met: two versions of one row written concurrently on both sides, and what the
declared policy decided. Kept for people (reconcile counts them); nothing reads them back to merge."""

from django.core.serializers.json import DjangoJSONEncoder
from django.db import models


class SyncConflict(models.Model):
    SAME_REVISION = "same_revision"
    INVARIANT = "invariant"
    KINDS = [(SAME_REVISION, "same revision, different content"), (INVARIANT, "the merge would break an invariant")]
    HELD, INCOMING = "held", "incoming"
    DECISIONS = [(HELD, "the held version was kept"), (INCOMING, "the incoming version replaced it")]

    context = models.CharField(max_length=64)
    row_id = models.CharField(max_length=64)
    kind = models.CharField(max_length=16, choices=KINDS)
    held = models.JSONField(encoder=DjangoJSONEncoder)
    incoming = models.JSONField(encoder=DjangoJSONEncoder)
    incoming_origin = models.CharField(max_length=64, blank=True, default="")
    decision = models.CharField(max_length=16, choices=DECISIONS)
    detail = models.CharField(max_length=300, blank=True, default="")
    recorded_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        indexes = [models.Index(fields=["context", "row_id"], name="sync_conflict_row_idx")]

    def __str__(self) -> str:
        return f"{self.context} {self.row_id}: {self.kind}, kept {self.decision}"


class BackfillCheckpoint(models.Model):
    """How far a resumable backfill got (``strangler_backfill``): it restarts from ``position``
    (the command's JSON: phase, last key sent, counts); ``copied`` counts rows the target took."""

    name = models.CharField(max_length=200, unique=True)
    position = models.TextField(blank=True, default="")
    copied = models.BigIntegerField(default=0)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"checkpoint {self.name}: {self.copied} copied"
