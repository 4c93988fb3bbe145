"""Continuous sync of products on the service's side (it runs the catalog context as origin
"catalog-service"): a product write here leaves a ``catalog.ProductSynced`` in the service's outbox,
which its relay sends to the monolith's queue on a real Redis; the monolith's snapshots reach the
service's own Celery worker through the broker and are merged by the kit: the newer revision wins,
its own snapshots are skipped, an invalid one is a dead letter. Live on PostgreSQL (fails without
it or Redis). The monolith's side, and both relays and workers together: tests/test_catalog_sync.py."""

from __future__ import annotations

import base64
import json
import secrets
import uuid
from collections.abc import Iterator

import psycopg
import pytest
import redis
from celery import Celery

from monolith.catalog import services
from monolith.catalog.tests.factories import EVENT, product_envelope, product_row
from monolith.kernel.money import Money
from strangler.django.outbox.models import OutboxMessage
from tests import live

MONOLITH = "monolith"
RUN = secrets.token_hex(4)  # queues of this run only: other runs may share the broker
QUEUE, MONOLITH_QUEUE = f"catalog-{RUN}", f"monolith-{RUN}"


def test_a_product_write_here_publishes_its_snapshot_with_the_services_origin(db):
    mug = services.product_create(sku="mug", name="Mug", price=Money(1250, "EUR"))
    services.stock_set(product_id=mug.id, on_hand=3)
    services.product_update(product_id=mug.id, price=Money(1400, "EUR"))
    snapshots = [m.envelope["payload"] for m in OutboxMessage.objects.filter(event_type=EVENT).order_by("id")]
    assert [(s["origin"], s["product"]["id"], s["product"]["revision"], s["product"]["price_minor"])
            for s in snapshots] == [("catalog-service", str(mug.id), 1, 1250), ("catalog-service", str(mug.id), 2, 1400)]


@pytest.fixture(scope="module")
def broker() -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(live.BROKER_URL, socket_connect_timeout=2)
    try:
        client.ping()
    except redis.exceptions.ConnectionError as exc:
        pytest.fail(f"this test needs Redis at {live.BROKER_URL}: {exc}")  # a missing server fails, never skips
    yield client
    client.delete(QUEUE, MONOLITH_QUEUE)
    client.close()


@pytest.fixture(scope="module")
def syncing(tmp_path_factory, broker) -> Iterator[live.Server]:
    """The service on PostgreSQL, its relay routing to this run's monolith queue, its worker on its queue."""
    with (live.service_running(tmp_path_factory.mktemp("catalog-sync"), CELERY_QUEUE=QUEUE,
                               OUTBOX_QUEUES=MONOLITH_QUEUE) as server,
          live.worker_running(server)):
        yield server


def _sql(server: live.Server, statement: str, params: tuple = ()) -> list[tuple]:
    with psycopg.connect(server.env["DATABASE_URL"], autocommit=True) as conn:
        return conn.execute(statement, params).fetchall()


def _product(server: live.Server, product_id: str) -> tuple | None:
    rows = _sql(server, "select name, price_minor, revision from catalog_product where id = %s", (product_id,))
    return rows[0] if rows else None


def _consumed(server: live.Server, event_id: str) -> bool:
    return bool(_sql(server, "select 1 from strangler_outbox_inboxmessage where event_id = %s and consumer = %s",
                     (event_id, "catalog.sync_apply")))


def _send(envelope: dict) -> str:
    """As the monolith's relay sends it: the kit's dispatch task on the service's queue."""
    app = Celery("monolith-relay", broker=live.BROKER_URL, set_as_current=False)
    try:
        app.send_task("kernel.dispatch_event", args=[envelope], queue=QUEUE)
    finally:
        app.close()
    return envelope["event_id"]


def _queued(client: redis.Redis, queue: str) -> list[dict]:
    """The envelopes waiting in ``queue``, oldest first (kombu pushes on the left, pops on the right)."""
    envelopes = []
    for raw in reversed(client.lrange(queue, 0, -1)):
        message = json.loads(raw)
        body = message["body"]
        if message["properties"].get("body_encoding") == "base64":
            body = base64.b64decode(body)
        envelopes.append(json.loads(body)[0][0])
    return envelopes


@pytest.mark.integration
def test_the_relay_sends_the_services_product_snapshots_to_the_monoliths_queue(syncing, broker):
    product_id = str(syncing.python(
        "import json; from monolith.catalog import services as s; from monolith.kernel.money import Money; "
        f"p = s.product_create(sku='relay-{RUN}', name='Mug', price=Money(1250, 'EUR')); "
        "s.product_update(product_id=p.id, name='Renamed on the service'); print(json.dumps(str(p.id)))"))
    live.manage(syncing.env, "relay_outbox")
    sent = [e for e in _queued(broker, MONOLITH_QUEUE) if e["type"] == EVENT and e["payload"]["product"]["id"] == product_id]
    assert [(e["payload"]["origin"], e["payload"]["product"]["revision"], e["payload"]["product"]["name"])
            for e in sent] == [("catalog-service", 1, "Mug"), ("catalog-service", 2, "Renamed on the service")]
    assert broker.llen(QUEUE) == 0  # nothing of its own comes back to the service


@pytest.mark.integration
def test_the_monoliths_snapshots_reach_the_service_through_the_broker_and_the_newer_revision_wins(syncing):
    row = product_row(f"mono-{RUN}")
    _send(product_envelope(MONOLITH, row))
    live.eventually(lambda: _product(syncing, row["id"]), lambda held: held is not None, what="the product applied")
    _send(product_envelope(MONOLITH, row | {"name": "Renamed in the monolith", "revision": 3}))
    live.eventually(lambda: _product(syncing, row["id"]), lambda held: held == ("Renamed in the monolith", 1250, 3),
                    what="the newer revision applied")
    stale = _send(product_envelope(MONOLITH, row | {"name": "Stale", "revision": 2}))
    live.eventually(lambda: _consumed(syncing, stale), bool, what="the stale snapshot consumed")
    assert _product(syncing, row["id"]) == ("Renamed in the monolith", 1250, 3)
    # Applying publishes nothing: a snapshot never echoes back to the monolith.
    assert _sql(syncing, "select count(*) from strangler_outbox_outboxmessage where envelope::text like %s",
                (f"%{row['id']}%",)) == [(0,)]


@pytest.mark.integration
def test_own_snapshots_are_skipped_and_an_invalid_one_is_a_dead_letter(syncing):
    own = product_row(f"own-{RUN}")
    event = _send(product_envelope("catalog-service", own))
    live.eventually(lambda: _consumed(syncing, event), bool, what="its own snapshot consumed")
    assert _product(syncing, own["id"]) is None
    bad = product_row(f"bad-{RUN}", currency="euro")
    event = _send(product_envelope(MONOLITH, bad))
    letters = live.eventually(
        lambda: _sql(syncing, "select consumer, next_attempt_at is null, error from strangler_outbox_consumerfailure "
                              "where event_id = %s", (event,)), bool, what="the dead letter")
    [(consumer, dead, error)] = letters
    assert (consumer, dead) == ("catalog.sync_apply", True) and "snapshot fails validation" in error
    assert _product(syncing, bad["id"]) is None
    assert uuid.UUID(bad["id"])  # the row was well-formed but for its currency
