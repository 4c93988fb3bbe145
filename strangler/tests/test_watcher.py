"""Change propagation against a real store and the real Redis: polling and pub/sub.

The "proxy" here only records what it is told to apply; the proxy itself is exercised end to end
in test_toggle_under_load.py.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from pathlib import Path

import pytest
import redis

from strangler.control.store import open_store
from strangler.control.watcher import RedisPublisher, Watcher
from strangler.proxy.types import Mode, RouteState
from strangler.tests.control_support import REDIS_URL
from strangler.tests.test_store import make_table

pytestmark = pytest.mark.integration


class Recorder:
    def __init__(self) -> None:
        self.applied: list[tuple[float, dict[str, RouteState]]] = []
        self.drains: list[tuple[str, float]] = []

    def apply_states(self, states: Mapping[str, RouteState]) -> None:
        self.applied.append((time.time(), dict(states)))

    def drain_tunnels(self, route: str, grace: float) -> int:
        self.drains.append((route, grace))
        return 0


async def _until(predicate, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.01)


def test_polling_applies_a_change_made_by_another_store(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/r.db"

    async def scenario() -> None:
        with open_store(url, make_table()) as replica_store, open_store(url, make_table()) as cli_store:
            proxy = Recorder()
            watcher = Watcher(replica_store, proxy, fast_poll=0.25)
            await watcher.start()
            try:
                assert proxy.applied[-1][1]["orders"] == RouteState(Mode.MONOLITH)  # applied at start
                entry = await asyncio.to_thread(
                    cli_store.set_state, "orders", RouteState(Mode.CANARY, 30), actor="a", reason="r"
                )
                await _until(lambda: proxy.applied[-1][1]["orders"] == RouteState(Mode.CANARY, 30), 2.0)
                assert proxy.applied[-1][0] - entry.at < 1.0
                assert watcher.applied["poll"] == 1
                await asyncio.sleep(0.6)
                assert len(proxy.applied) == 2  # an unchanged version is not re-applied
            finally:
                await watcher.close()

    asyncio.run(scenario())


def test_drain_requests_reach_the_proxy_with_what_is_left_of_their_grace(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/r.db"

    async def scenario() -> None:
        with open_store(url, make_table()) as replica_store, open_store(url, make_table()) as cli_store:
            await asyncio.to_thread(cli_store.request_drain, "orders", 5.0, actor="a", reason="before start")
            proxy = Recorder()
            watcher = Watcher(replica_store, proxy, fast_poll=0.25)
            await watcher.start()
            try:
                await asyncio.sleep(0.6)
                assert proxy.drains == []  # older than this replica: none of its tunnels
                await asyncio.to_thread(cli_store.set_state, "orders", RouteState(Mode.SERVICE, 100), actor="a",
                                        reason="flip")
                await asyncio.to_thread(cli_store.request_drain, "orders", 2.0, actor="a", reason="moved")
                await _until(lambda: proxy.drains, 2.0)
                [(route, grace)] = proxy.drains
                assert route == "orders" and 1.0 < grace <= 2.0
                assert proxy.applied[-1][1]["orders"] == RouteState(Mode.SERVICE, 100)  # the flip came first
            finally:
                await watcher.close()

    asyncio.run(scenario())


def test_redis_pubsub_applies_a_change_at_once(tmp_path: Path) -> None:
    redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2).ping()  # fail, not skip, without Redis
    url = f"sqlite:///{tmp_path}/r.db"
    channel = f"strangler:routes:test:{tmp_path.name}"

    async def scenario() -> None:
        publisher = RedisPublisher(REDIS_URL, channel)
        with open_store(url, make_table()) as replica_store, \
                open_store(url, make_table(), on_commit=publisher) as cli_store:
            proxy = Recorder()
            # Polling effectively off: only a pub/sub message can deliver the change in time.
            watcher = Watcher(replica_store, proxy, redis_url=REDIS_URL, channel=channel, fast_poll=60,
                              safety_poll=60)
            await watcher.start()
            try:
                await _until(lambda: watcher.subscribed, 5.0)
                for weight in (10, 20, 30):
                    entry = await asyncio.to_thread(
                        cli_store.set_state, "orders", RouteState(Mode.CANARY, weight), actor="a", reason="r"
                    )
                    await _until(lambda w=weight: proxy.applied[-1][1]["orders"].weight == w, 1.0)
                    assert proxy.applied[-1][0] - entry.at < 1.0
                assert watcher.applied["pubsub"] == 3
                assert watcher.applied["poll"] == 0
            finally:
                await watcher.close()
                publisher.close()

    asyncio.run(scenario())


def test_without_a_subscription_the_watcher_polls_fast(tmp_path: Path) -> None:
    """Redis configured but unreachable: changes still arrive by polling within the bound."""
    url = f"sqlite:///{tmp_path}/r.db"

    async def scenario() -> None:
        with open_store(url, make_table()) as replica_store, open_store(url, make_table()) as cli_store:
            proxy = Recorder()
            watcher = Watcher(replica_store, proxy, redis_url="redis://127.0.0.1:1/0", fast_poll=0.25)
            await watcher.start()
            try:
                entry = await asyncio.to_thread(
                    cli_store.set_state, "orders", RouteState(Mode.SERVICE, 100), actor="a", reason="r"
                )
                await _until(lambda: proxy.applied[-1][1]["orders"].mode is Mode.SERVICE, 1.0)
                assert proxy.applied[-1][0] - entry.at < 1.0
                assert not watcher.subscribed
            finally:
                await watcher.close()

    asyncio.run(scenario())


def test_lost_redis_subscription_is_restored(tmp_path: Path) -> None:
    """Kill the watcher's own Redis connection: it resubscribes and pub/sub works again."""
    admin = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2)
    url = f"sqlite:///{tmp_path}/r.db"
    channel = f"strangler:routes:test:{tmp_path.name}"

    async def scenario() -> None:
        publisher = RedisPublisher(REDIS_URL, channel)
        with open_store(url, make_table()) as replica_store, \
                open_store(url, make_table(), on_commit=publisher) as cli_store:
            proxy = Recorder()
            watcher = Watcher(replica_store, proxy, redis_url=REDIS_URL, channel=channel, fast_poll=0.25,
                              safety_poll=60)
            await watcher.start()
            try:
                await _until(lambda: watcher.subscribed, 5.0)
                ids = [c["id"] for c in admin.client_list() if c["name"] == watcher.client_name]
                assert ids, "the watcher's connection is not visible in CLIENT LIST"
                for client_id in ids:
                    admin.client_kill_filter(_id=client_id)
                await _until(lambda: not watcher.subscribed, 2.0)
                # Meanwhile changes still arrive, by fast polling.
                entry = await asyncio.to_thread(
                    cli_store.set_state, "orders", RouteState(Mode.SHADOW), actor="a", reason="r"
                )
                await _until(lambda: proxy.applied[-1][1]["orders"].mode is Mode.SHADOW, 1.0)
                assert proxy.applied[-1][0] - entry.at < 1.0
                await _until(lambda: watcher.subscribed, 5.0)
                pubsub_before = watcher.applied["pubsub"]
                await asyncio.sleep(0.3)  # let the resubscribe's own refresh settle
                await asyncio.to_thread(
                    cli_store.set_state, "orders", RouteState(Mode.CANARY, 5), actor="a", reason="r"
                )
                await _until(lambda: proxy.applied[-1][1]["orders"].mode is Mode.CANARY, 1.0)
                assert watcher.applied["pubsub"] == pubsub_before + 1
            finally:
                await watcher.close()
                publisher.close()

    asyncio.run(scenario())
