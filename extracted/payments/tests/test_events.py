"""Events leave the service through its own outbox: a charge writes PaymentCaptured and
PaymentSynced in the service's database, and the kit's relay (run as the service runs it)
routes them, per OUTBOX_ROUTES, to the monolith's queue on a real Redis."""

from __future__ import annotations

import base64
import json
import sqlite3
import uuid
from pathlib import Path

import pytest

from tests import live
from tests.conftest import ServiceClient

pytestmark = pytest.mark.integration

REDIS_URL = "redis://127.0.0.1:6379/14"


@pytest.fixture
def redis_db():
    import redis

    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2)
    try:
        client.ping()
    except redis.exceptions.ConnectionError as exc:
        pytest.fail(f"this test needs Redis at {REDIS_URL}: {exc}")  # a missing server fails, never skips
    client.flushdb()
    yield client
    client.flushdb()
    client.close()


def _outbox(db: Path, payment_id: str) -> dict[str, dict]:
    with sqlite3.connect(db) as conn:
        rows = conn.execute("SELECT event_type, envelope, published_at FROM strangler_outbox_outboxmessage").fetchall()
    return {event_type: {"envelope": json.loads(envelope), "published_at": published_at}
            for event_type, envelope, published_at in rows if payment_id in envelope}


def _queued_envelopes(redis_client, queue: str) -> list[dict]:
    envelopes = []
    for raw in redis_client.lrange(queue, 0, -1):
        message = json.loads(raw)
        assert message["headers"]["task"] == "kernel.dispatch_event"
        body = message["body"]
        if message["properties"].get("body_encoding") == "base64":
            body = base64.b64decode(body)
        args, _kwargs, _embed = json.loads(body)
        envelopes.append(args[0])
    return envelopes


def test_a_charge_writes_captured_and_synced_and_the_relay_routes_them_to_the_monolith(
        fake_backed_service, fake_monolith_server, redis_db):
    fake_monolith_server.reset()  # whatever an earlier test left it answering
    user_id = uuid.uuid4()
    fake_monolith_server.tokens["events-token"] = user_id
    client = ServiceClient(fake_backed_service.url, fake_monolith_server.secret, token="events-token")
    response = client.call("POST", "/api/v1/payments/", key=f"ev-{uuid.uuid4()}", json={
        "order_id": str(fake_monolith_server.order_for(user_id)), "amount_minor": 990, "currency": "EUR",
        "card_token": "tok_visa"})
    assert response.status_code == 201, response.text
    payment_id = response.json()["id"]

    db = Path(fake_backed_service.env["DATABASE_URL"].removeprefix("sqlite:///"))
    written = _outbox(db, payment_id)
    assert {"payments.PaymentCaptured", "payments.PaymentSynced"} <= set(written)
    assert all(row["published_at"] is None for row in written.values())
    synced = written["payments.PaymentSynced"]["envelope"]["payload"]
    assert synced["origin"] == "payments-service"
    assert synced["payment"]["id"] == payment_id
    assert synced["payment"]["user_id"] == str(user_id)

    env = {**fake_backed_service.env, "CELERY_BROKER_URL": REDIS_URL}
    live.manage(live.SERVICE_DIR, env, "relay_outbox")

    queued = _queued_envelopes(redis_db, "monolith")
    mine = {e["type"]: e for e in queued if e["payload"].get("payment_id") == payment_id
            or e["payload"].get("payment", {}).get("id") == payment_id}
    assert {"payments.PaymentCaptured", "payments.PaymentSynced"} <= set(mine)
    assert mine["payments.PaymentCaptured"]["event_id"] == written["payments.PaymentCaptured"]["envelope"]["event_id"]
    assert redis_db.llen("payments") == 0  # nothing of its own is routed back to the service
    assert all(row["published_at"] is not None for row in _outbox(db, payment_id).values())
