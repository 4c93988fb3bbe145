"""Continuous sync of products, in the monolith: each product write publishes its snapshot in its own
transaction (stock writes none), and the consumer merges the catalog service's snapshots with the
kit (newer revision wins, same revision by the spec's policy and recorded, its own skipped, invalid
ones dead letters). The real broker path is tests/test_catalog_sync.py."""

import uuid

import pytest

from monolith.catalog import services
from monolith.catalog.extraction import SPEC
from monolith.catalog.models import Product
from monolith.catalog.tests.factories import EVENT, product_envelope, product_row
from monolith.kernel.money import Money
from strangler.django.errors import Conflict
from strangler.django.extraction.importing import sync_snapshot_build
from strangler.django.extraction.models import SyncConflict
from strangler.django.outbox.bus import dispatch
from strangler.django.outbox.models import ConsumerFailure, InboxMessage, OutboxMessage
from strangler.django.outbox.tasks import dispatch_event

SERVICE = "catalog-service"


def _published() -> list[dict]:
    return [m.envelope["payload"] for m in OutboxMessage.objects.filter(event_type=EVENT).order_by("id")]


def _held(product_id) -> dict:
    return sync_snapshot_build(spec=SPEC, instance=Product.objects.get(pk=product_id))["product"]


def test_each_product_write_publishes_its_snapshot_and_bumps_the_revision(db):
    mug = services.product_create(sku="mug", name="Mug", price=Money(1250, "EUR"))
    services.stock_set(product_id=mug.id, on_hand=5)  # stock is not synced: no snapshot
    services.product_update(product_id=mug.id, name="Big mug", price=Money(1500, "EUR"))
    services.product_update(product_id=mug.id, name="Big mug")  # nothing changes: nothing written
    services.product_update(product_id=mug.id, active=False)
    snapshots = _published()
    assert [(s["origin"], s["product"]["revision"], s["product"]["name"], s["product"]["price_minor"],
             s["product"]["active"]) for s in snapshots] == [
        ("monolith", 1, "Mug", 1250, True), ("monolith", 2, "Big mug", 1500, True),
        ("monolith", 3, "Big mug", 1500, False)]
    assert snapshots[-1]["product"] == _held(mug.id)  # the row as committed, ids and times included
    assert set(snapshots[-1]) == {"product", "origin"}  # no stock in it


def test_a_refused_write_publishes_nothing(db):
    services.product_create(sku="mug", name="Mug", price=Money(1250, "EUR"))
    with pytest.raises(Conflict):
        services.product_create(sku="mug", name="Another", price=Money(900, "EUR"))
    assert len(_published()) == 1


def test_the_services_snapshot_is_applied_as_given_and_never_echoed(db):
    row = product_row("tee", revision=4)
    assert dispatch(product_envelope(SERVICE, row)) == 1
    assert _held(row["id"]) == row
    assert not OutboxMessage.objects.exists()


def test_a_stale_snapshot_does_not_overwrite_a_newer_row(db):
    mug = services.product_create(sku="mug", name="Mug", price=Money(1250, "EUR"))
    services.product_update(product_id=mug.id, name="Renamed here")  # revision 2
    stale = _published()[0]["product"] | {"name": "Old name from the service"}  # revision 1
    dispatch(product_envelope(SERVICE, stale))
    assert (_held(mug.id)["name"], _held(mug.id)["revision"]) == ("Renamed here", 2)
    newer = _held(mug.id) | {"name": "Renamed on the service", "revision": 3}
    dispatch(product_envelope(SERVICE, newer))
    assert _held(mug.id) == newer


def test_own_snapshots_are_skipped(db):
    row = product_row("cap")
    envelope = product_envelope("monolith", row)
    assert dispatch(envelope) == 1  # the consumer ran (its inbox row) ...
    assert InboxMessage.objects.filter(event_id=envelope["event_id"], consumer="catalog.sync_apply").exists()
    assert not Product.objects.filter(pk=row["id"]).exists()  # ... and wrote nothing


def test_same_revision_different_content_keeps_the_monoliths_and_records_the_conflict(db):
    mug = services.product_create(sku="mug", name="Mug", price=Money(1250, "EUR"))
    theirs = _held(mug.id) | {"name": "Written concurrently on the service"}
    dispatch(product_envelope(SERVICE, theirs))
    assert _held(mug.id)["name"] == "Mug"
    conflict = SyncConflict.objects.get(context="catalog", row_id=str(mug.id))
    assert (conflict.kind, conflict.decision, conflict.incoming_origin) == (
        SyncConflict.SAME_REVISION, SyncConflict.HELD, SERVICE)


@pytest.mark.parametrize("bad", [
    {"currency": "euro"}, {"currency": ["EUR"]}, {"price_minor": 0}, {"price_minor": "1250"}, {"revision": 0},
    {"id": "not-a-uuid"}, {"sku": ""}, {"created_at": "yesterday"}, {"active": "yes"},
])
def test_an_invalid_snapshot_is_a_dead_letter_at_once(db, bad):
    row = product_row("bad") | bad
    assert dispatch_event.apply(args=[product_envelope(SERVICE, row)]).get() == 0
    assert not Product.objects.exists()
    letter = ConsumerFailure.objects.get()
    assert (letter.consumer, letter.dead, letter.attempts) == ("catalog.sync_apply", True, 1)
    assert "snapshot fails validation" in letter.error


def test_a_snapshot_without_a_product_is_a_dead_letter(db):
    envelope = product_envelope(SERVICE, product_row()) | {"payload": {"origin": SERVICE, "row": {"id": str(uuid.uuid4())}}}
    dispatch_event.apply(args=[envelope]).get()
    assert ConsumerFailure.objects.get().dead


def test_a_snapshot_clashing_with_a_sku_held_here_is_retried_later_never_dropped(db):
    """Both sides created the same sku under different ids: the kit retries the snapshot with backoff
    (a race usually clears) and keeps it as a failure to retry, never a silent drop."""
    services.product_create(sku="mug", name="Mug", price=Money(1250, "EUR"))
    envelope = product_envelope(SERVICE, product_row("mug"))
    assert dispatch_event.apply(args=[envelope]).get() == 0
    failure = ConsumerFailure.objects.get()
    assert (failure.consumer, failure.dead) == ("catalog.sync_apply", False)
    assert failure.error.startswith("SyncBatchConflict")
    assert Product.objects.get(sku="mug").name == "Mug"
