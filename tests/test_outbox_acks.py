"""A broker that loses what it held loses no event. Each delivery (an event to one queue) stays
unacknowledged until the consumer's worker has dispatched it and said so; the relay sends an
unacknowledged delivery again after OUTBOX_ACK_TIMEOUT, and the consumer's inbox skips a copy that
had arrived. The three cases the outage replay alone (strangler.django.outbox.replay) missed, each
with real processes (relay, Celery worker) and a private redis-server restarted without its data:
the relay idle while Redis restarts, the relay restarted during the outage, and an event that
waited in the queue longer than the replay window."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import Stack
from tests.cutover_support import RedisServer

pytestmark = [pytest.mark.integration, pytest.mark.timeout(240)]
ROOT = Path(__file__).resolve().parents[1]
ACK_TIMEOUT = 3  # seconds before an unacknowledged delivery is sent again (600 by default)

SEED = """
import json, uuid
from django.db import transaction
from strangler.django.outbox.services import outbox_add
from monolith.orders.events import OrderConfirmed
from monolith.users.interface import user_get_by_email, user_register

user = user_get_by_email(email="buyer@example.com") or user_register(email="buyer@example.com",
                                                                      password="long-enough-pass")
with transaction.atomic():
    ids = [str(outbox_add(event=OrderConfirmed(order_id=uuid.uuid4(), user_id=user.id, total_minor=100 + n,
                                               currency="EUR", payment_id=uuid.uuid4())).event_id)
           for n in range({count})]
print(json.dumps(ids))
"""

STATE = """
import json
from strangler.django.outbox.models import OutboxMessage
from monolith.notifications.models import Notification
print(json.dumps({
    "pending": OutboxMessage.objects.filter(published_at__isnull=True).count(),
    "mailed": sorted(str(e) for e in Notification.objects.filter(status="sent").values_list("event_id", flat=True)),
}))
"""


class VolatileRedis(RedisServer):
    """A Redis that keeps nothing on disk (as this machine's own): a restart empties its queues."""

    def __init__(self, workdir: Path) -> None:
        super().__init__(workdir)
        at = self.cmd.index("--appendonly")
        self.cmd[at + 1] = "no"


class Relay:
    def __init__(self, st: Stack) -> None:
        self.st = st
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        log = (self.st.var_dir / "relay.log").open("a")
        self.proc = subprocess.Popen([sys.executable, "manage.py", "relay_outbox", "--loop"], cwd=ROOT,
                                     env=self.st.env, stdout=log, stderr=subprocess.STDOUT)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)


@pytest.fixture
def lossy(tmp_path: Path, scratch_database_url: str):
    broker = VolatileRedis(tmp_path / "redis")
    broker.start()
    st = Stack(database_url=scratch_database_url, broker_url=broker.url, var_dir=tmp_path / "var")
    st.env.update({"OUTBOX_ACK_TIMEOUT": str(ACK_TIMEOUT), "OUTBOX_REPLAY_WINDOW": "1"})
    st.manage("migrate", "--noinput")
    relay = Relay(st)
    try:
        yield st, broker, relay
    finally:
        relay.stop()
        st.stop_worker()
        broker.stop()


def _seed(st: Stack, count: int) -> list[str]:
    return st.python(SEED.replace("{count}", str(count)))  # type: ignore[return-value]


def _wait(st: Stack, condition, what: str, seconds: float = 60) -> dict:
    deadline = time.monotonic() + seconds
    while True:
        state = st.python(STATE)
        if condition(state):
            return state
        assert time.monotonic() < deadline, f"{what}: {state}\nrelay log:\n" \
                                            f"{(st.var_dir / 'relay.log').read_text()[-3000:]}"
        time.sleep(0.5)


def _restart_empty(broker: RedisServer) -> None:
    broker.stop()
    broker.start()
    assert broker.client().dbsize() == 0  # whatever the queue held is gone


def test_redis_restarts_while_the_relay_is_idle(lossy):
    st, broker, relay = lossy
    events = _seed(st, 4)
    relay.start()
    _wait(st, lambda s: s["pending"] == 0, "the relay published")
    _restart_empty(broker)  # the relay saw no failed publish: it had nothing to send
    st.start_worker()
    state = _wait(st, lambda s: set(events) <= set(s["mailed"]), "every event mailed after the restart")
    assert sorted(state["mailed"]) == sorted(events)  # each once: the inbox skipped any second copy


def test_the_relay_restarts_during_the_outage(lossy):
    st, broker, relay = lossy
    before = _seed(st, 3)
    relay.start()
    _wait(st, lambda s: s["pending"] == 0, "the relay published")
    broker.stop()
    during = _seed(st, 2)  # the relay's publish fails: it notes the outage, in memory
    time.sleep(1.5)
    relay.stop()  # ... and forgets it
    broker.start()  # empty
    relay.start()
    st.start_worker()
    state = _wait(st, lambda s: set(before + during) <= set(s["mailed"]), "every event mailed")
    assert sorted(state["mailed"]) == sorted(before + during)


def test_an_event_that_waited_longer_than_the_replay_window(lossy):
    st, broker, relay = lossy
    waited = _seed(st, 3)
    relay.start()
    _wait(st, lambda s: s["pending"] == 0, "the relay published")
    time.sleep(2)  # no worker: they wait in the queue, longer than the 1 s replay window
    broker.stop()
    during = _seed(st, 1)
    time.sleep(1.5)  # the relay fails, notes the outage; the window it will replay starts after `waited`
    broker.start()  # empty
    st.start_worker()
    state = _wait(st, lambda s: set(waited + during) <= set(s["mailed"]), "every event mailed")
    assert sorted(state["mailed"]) == sorted(waited + during)
