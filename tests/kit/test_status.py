"""The kit's status document (strangler.django.status): counts of conflicts, dead letters and
unpublished outbox rows, behind the proxy's internal credential."""

from __future__ import annotations

import uuid

import pytest
from django.conf import settings
from django.utils import timezone

from strangler.django.extraction.models import SyncConflict
from strangler.django.outbox.models import ConsumerFailure
from strangler.proxy.credentials import HEADER, credential_mint

pytestmark = pytest.mark.django_db
URL = "/internal/strangler/status"


def _conflict(context: str, row: str) -> None:
    SyncConflict.objects.create(context=context, row_id=row, kind=SyncConflict.SAME_REVISION, held={"r": 2},
                                incoming={"r": 2}, decision=SyncConflict.HELD)


def _get(client, caller: str | None):
    headers = {HEADER: credential_mint(settings.INTERNAL_AUTH_SECRET, caller, audience="monolith")} if caller else {}
    return client.get(URL, headers=headers)


def test_counts_what_needs_a_person(client, settings):
    settings.OUTBOX_ROUTES = {"payments.PaymentSynced": [], "catalog.ProductSynced": [], "*": ["monolith"]}
    assert _get(client, "strangler").json() == {
        "dead_letters": 0, "consumers_retrying": 0, "outbox_pending": 0, "deliveries_unacknowledged": 0,
        "conflicts": {},
        # where each extracted context's snapshots go: the flip gate refuses a flip while nowhere
        "sync": {"payments": {"payments.PaymentSynced": [], "payments.IdempotencyRecordSynced": ["monolith"]},
                 "catalog": {"catalog.ProductSynced": []}},
    }
    settings.OUTBOX_ROUTES = {"payments.PaymentSynced": ["payments"], "*": ["monolith"]}
    assert _get(client, "strangler").json()["sync"]["payments"]["payments.PaymentSynced"] == ["payments"]
    _conflict("payments", "a")
    _conflict("payments", "b")
    _conflict("catalog", "c")
    event = uuid.uuid4()
    now = timezone.now()
    for consumer, next_attempt in (("mail", None), ("ledger", now)):  # one dead, one still retried
        ConsumerFailure.objects.create(event_id=event, event_type="OrderConfirmed", consumer=consumer,
                                       envelope={"event_id": str(event)}, error="boom", attempts=12,
                                       first_failed_at=now, last_failed_at=now, next_attempt_at=next_attempt)
    body = _get(client, "strangler").json()
    assert body["conflicts"] == {"catalog": 1, "payments": 2}
    assert (body["dead_letters"], body["consumers_retrying"]) == (1, 1)


@pytest.mark.parametrize("caller", [None, "monolith", "payments-service"])
def test_only_the_proxys_status_caller_may_read_it(client, caller):
    response = _get(client, caller)
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "internal_credential_required"


def test_it_only_answers_get(client):
    headers = {HEADER: credential_mint(settings.INTERNAL_AUTH_SECRET, "strangler", audience="monolith")}
    response = client.post(URL, headers=headers)
    assert response.status_code == 405 and response.json()["error"]["code"] == "method_not_allowed"
