"""End to end through real processes: outbox row → relay_outbox → Redis → Celery worker → the
notifications consumer, on a database every process shares.

Run alone with `.venv/bin/pytest -m integration tests/test_outbox_worker.py` (Redis on
127.0.0.1:6379 required; DB 15 is flushed; set INTEGRATION_REDIS_URL to use another).
"""

from __future__ import annotations

import re

import pytest

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

SEED = """
import json, uuid
from django.db import transaction
from strangler.django.outbox.services import outbox_add
from monolith.orders.events import OrderConfirmed
from monolith.users.interface import user_register

user = user_register(email="buyer@example.com", password="long-enough-pass")
with transaction.atomic():
    message = outbox_add(event=OrderConfirmed(order_id=uuid.uuid4(), user_id=user.id, total_minor=4299,
                                              currency="EUR", payment_id=uuid.uuid4()))
print(json.dumps({"user_id": str(user.id), "email": user.email, "event_id": str(message.event_id)}))
"""

OUTBOX_STATE = """
import json
from strangler.django.outbox.models import OutboxMessage
print(json.dumps({m.event_type: {"published": m.published_at is not None, "attempts": m.attempts}
                  for m in OutboxMessage.objects.all()}))
"""

# The same envelope once more, straight to the broker, as a second relay would after a crash.
PUBLISH_AGAIN = """
import json
from strangler.django.outbox.models import OutboxMessage
from strangler.django.outbox.services import celery_publisher
celery_publisher(OutboxMessage.objects.get(event_type="orders.OrderConfirmed").envelope)
print(json.dumps("ok"))
"""

# A relay that published but crashed before marking the row: the row is pending again.
FORGET_PUBLISHED = """
import json
from strangler.django.outbox.models import OutboxMessage
print(json.dumps(OutboxMessage.objects.filter(event_type="orders.OrderConfirmed").update(published_at=None)))
"""

CONSUMER_STATE = """
import json
from strangler.django.outbox.models import InboxMessage
from monolith.notifications.models import Notification
event_id = "{event_id}"
print(json.dumps({{
    "inbox": list(InboxMessage.objects.filter(event_id=event_id).values_list("consumer", flat=True)),
    "notifications": list(Notification.objects.filter(event_id=event_id).values("status", "to", "kind")),
    "all_notifications": Notification.objects.count(),
}}))
"""

SUCCEEDED = re.compile(r"Task kernel\.dispatch_event\[[^\]]+\] succeeded in [\d.]+s: (\d+)")


def test_outbox_event_reaches_its_consumer_exactly_once_through_a_real_worker(stack):
    stack.manage("migrate", "--noinput")
    seeded = stack.python(SEED)
    stack.start_worker()

    # 1. the relay publishes both pending rows (UserRegistered, OrderConfirmed) and marks them
    out = stack.manage("relay_outbox")
    assert "relay done: 2 published" in out
    assert stack.python(OUTBOX_STATE) == {
        "users.UserRegistered": {"published": True, "attempts": 1},
        "orders.OrderConfirmed": {"published": True, "attempts": 1},
    }

    # 2. the same OrderConfirmed envelope reaches the broker twice more
    stack.python(PUBLISH_AGAIN)
    assert stack.python(FORGET_PUBLISHED) == 1
    assert "relay done: 1 published" in stack.manage("relay_outbox")

    # 3. wait until the worker processed all four deliveries
    log = stack.wait_for_log(lambda text: len(SUCCEEDED.findall(text)) >= 4, timeout=30,
                             what="4 processed dispatch_event tasks")
    results = sorted(int(n) for n in SUCCEEDED.findall(log))
    # UserRegistered has no consumer (0); OrderConfirmed ran its consumer once (1), then was skipped twice.
    assert results == [0, 0, 0, 1], log
    assert "Traceback" not in log, log

    state = stack.python(CONSUMER_STATE.format(event_id=seeded["event_id"]))
    assert state["inbox"] == ["notifications.order_confirmed_email"]
    assert state["notifications"] == [{"status": "sent", "to": seeded["email"], "kind": "order_confirmed"}]
    assert state["all_notifications"] == 1

    mails = sorted(stack.mail_dir.glob("*.log"))
    assert len(mails) == 1, [m.name for m in mails]
    text = mails[0].read_text()
    assert f"To: {seeded['email']}" in text
    assert "is confirmed" in text and "42.99 EUR" in text
