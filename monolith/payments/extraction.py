"""Payments on the kit's extraction engine: its spec (registered in STRANGLER_EXTRACTIONS), its
conflict policy and who this process is. The kit does the rest for any spec (copy, merge, compare):
a missing payment is inserted, a held one replaced only by a higher ``revision``, at the same
revision ``POLICY`` picks the same winner on both sides and records the conflict; refunds are
inserted when missing, never beyond ``captured_minor``; ``refunded_minor`` is their sum."""

from __future__ import annotations

from django.conf import settings

from monolith.payments.sync_rows import PAYMENT_FIELDS, PAYMENT_ROWS, REFUND_FIELDS, REFUND_ROWS
from strangler.django.extraction.conflicts import ConflictPolicy
from strangler.django.extraction.idempotency_copy import idempotency_records_export
from strangler.django.extraction.spec import ChildSpec, ExtractionSpec

ORIGINS = ("monolith", "payments-service")
IDEMPOTENCY_SCOPE_PREFIX = "payments."  # payments' own API scopes (apis.py: "payments.charge:<user>", ...)
# Reconcile's fields (extracted/payments/README.md, "Reconcile checksum"): bookkeeping (revision,
# created_at, updated_at) left out: two stores agree when they hold the same money.
CHECKSUM_FIELDS = ("id", "order_id", "user_id", "amount_minor", "currency", "status", "failure_reason",
                   "processor_ref", "captured_minor", "refunded_minor", "idempotency_key")
REFUND_CHECKSUM_FIELDS = ("id", "amount_minor", "currency", "processor_ref", "idempotency_key")

# Same revision, different content: the higher status rank wins (money taken at the processor is
# never hidden by a failure), then the monolith (the system of record until the cut), then the digest.
POLICY = ConflictPolicy(revision_field="revision", rank_field="status",
                        ranks={"pending": 0, "failed": 1, "captured": 2}, origins=ORIGINS,
                        compared_fields=tuple(f for f in CHECKSUM_FIELDS if f != "refunded_minor"))
# refunded_minor is recomputed for payments with refunds in the batch or that ever had one (revision
# >= 3 or refunded_minor > 0). Any other payment of the batch has revision <= 2 (claim, settle) and
# cannot replace a copy holding refunds (each refund bumped that copy's revision): skipping it is exact.
_REVISION, _REFUNDED = PAYMENT_FIELDS.index("revision"), PAYMENT_FIELDS.index("refunded_minor")


def sync_origin() -> str:
    """Who this process is: the same package runs in the monolith and in the payments service."""
    return getattr(settings, "PAYMENTS_ORIGIN", "monolith")


SPEC = ExtractionSpec(
    context="payments", model="payments.Payment", kind="payments", fields=PAYMENT_FIELDS, shape=PAYMENT_ROWS,
    compared_fields=CHECKSUM_FIELDS, sync_path="/internal/v1/payments/sync/", origin=sync_origin, policy=POLICY,
    snapshot_row="payment",
    children=(ChildSpec(model="payments.Refund", kind="refunds", parent_field="payment_id", fields=REFUND_FIELDS,
                        shape=REFUND_ROWS, compared_fields=REFUND_CHECKSUM_FIELDS, total_key="refund_total",
                        amount_field="amount_minor", parent_total="refunded_minor", parent_limit="captured_minor",
                        recompute_if=lambda row: row[_REVISION] >= 3 or row[_REFUNDED] > 0),),
    extra_exports=(idempotency_records_export(scope_prefix=IDEMPOTENCY_SCOPE_PREFIX),),
    target_audience="payments-service",
    snapshot_events=("payments.PaymentSynced", "payments.IdempotencyRecordSynced"),
)
