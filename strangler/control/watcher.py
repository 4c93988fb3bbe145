"""Change propagation: every running replica applies a committed route change within a second.

Writers (CLI, admin API) commit to the store and then, when Redis is configured, publish the new
version on ``strangler:routes``. Each replica's Watcher reloads the store on a message; it also
polls the store's version: every 250 ms without Redis (or while the subscription is down), and
slowly as a safety net for missed messages while subscribed. Applying a change swaps the route
table atomically in the proxy, so requests in flight finish on the table they started with. Drain
requests ride on the same version: each new one is handed to the proxy with what is left of its
grace (strangler.control.store.DrainRequest).
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from typing import Any

from strangler.control.store import Store
from strangler.proxy.types import RouteControl

CHANNEL = "strangler:routes"
FAST_POLL = 0.25  # seconds; the propagation bound is 1 s
SAFETY_POLL = 5.0  # seconds; only while the Redis subscription is up

log = logging.getLogger("strangler.watcher")


class RedisPublisher:
    """Store ``on_commit`` hook: announce a new version. Failures are logged, never raised:
    the change is committed and pollers will still pick it up."""

    def __init__(self, url: str, channel: str = CHANNEL) -> None:
        import redis

        self._client = redis.Redis.from_url(url, socket_connect_timeout=1.0, socket_timeout=1.0)
        self.channel = channel

    def __call__(self, version: int) -> None:
        try:
            self._client.publish(self.channel, str(version))
        except Exception as exc:  # noqa: BLE001 - redis is an optimisation over polling
            log.warning("could not publish route change %s to redis: %s", version, exc)

    def close(self) -> None:
        self._client.close()


class Watcher:
    def __init__(
        self,
        store: Store,
        target: RouteControl,
        *,
        redis_url: str | None = None,
        channel: str = CHANNEL,
        fast_poll: float = FAST_POLL,
        safety_poll: float = SAFETY_POLL,
    ) -> None:
        self.store = store
        self.target = target
        self.redis_url = redis_url
        self.channel = channel
        self.fast_poll = fast_poll
        self.safety_poll = safety_poll
        self.version = -1
        self.drain_seen: int | None = None  # id of the last drain request handed to the proxy
        self.client_name = f"strangler-watcher-{os.getpid()}-{id(self):x}"  # shows in CLIENT LIST
        self.applied: dict[str, int] = {"poll": 0, "pubsub": 0, "start": 0}
        self._subscribed = asyncio.Event()
        self._lock = asyncio.Lock()
        self._tasks: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        await self.refresh("start")
        self._tasks.append(asyncio.create_task(self._poll_loop(), name="strangler-watcher-poll"))
        if self.redis_url:
            self._tasks.append(asyncio.create_task(self._redis_loop(), name="strangler-watcher-redis"))

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            try:
                await task
            except (asyncio.CancelledError, Exception):  # noqa: BLE001 - shutting down
                pass
        self._tasks.clear()

    @property
    def subscribed(self) -> bool:
        return self._subscribed.is_set()

    async def refresh(self, source: str) -> bool:
        """Apply the store's states if its version moved. True when something was applied."""
        async with self._lock:
            version = await asyncio.to_thread(self.store.version)
            if version == self.version:
                return False
            version, states = await asyncio.to_thread(self.store.snapshot)
            self.target.apply_states(states)
            await self._drains()
            self.version = version
            self.applied[source] = self.applied.get(source, 0) + 1
            log.info("applied route states version %d via %s at %.6f", version, source, time.time())
            return True

    async def _drains(self) -> None:
        """New drain requests, after the states they may follow are applied."""
        if self.drain_seen is None:  # starting: this replica has no tunnel yet, older drains are not for it
            self.drain_seen = await asyncio.to_thread(self.store.last_drain)
            return
        for drain in await asyncio.to_thread(self.store.drains_after, self.drain_seen):
            self.drain_seen = drain.id
            left = max(0.0, drain.at + drain.grace - time.time())
            tunnels = self.target.drain_tunnels(drain.route, left)
            log.info("drain #%d of route %s by %s (%s): %d open tunnel(s), moved ones close in %.1fs",
                     drain.id, drain.route, drain.actor, drain.reason, tunnels, left)

    async def _poll_loop(self) -> None:
        # Wake at the fast rate always, so a lost subscription means fast polling at once.
        last = time.monotonic()
        while True:
            await asyncio.sleep(self.fast_poll)
            if self.subscribed and time.monotonic() - last < self.safety_poll:
                continue
            last = time.monotonic()
            try:
                await self.refresh("poll")
            except Exception as exc:  # noqa: BLE001 - keep serving the last good table
                log.warning("route state poll failed: %s", exc)

    async def _redis_loop(self) -> None:
        import redis.asyncio as aioredis

        backoff = 0.1
        while True:
            client: Any = aioredis.Redis.from_url(
                self.redis_url, socket_connect_timeout=1.0, client_name=self.client_name
            )
            pubsub = client.pubsub(ignore_subscribe_messages=True)
            try:
                await pubsub.subscribe(self.channel)
                self._subscribed.set()
                backoff = 0.1
                # Anything published while we were not subscribed is caught by this refresh.
                await self.refresh("poll")
                async for message in pubsub.listen():
                    if message.get("type") == "message":
                        try:
                            await self.refresh("pubsub")
                        except Exception as exc:  # noqa: BLE001 - the store, not Redis, failed
                            log.warning("route state reload failed: %s", exc)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - fall back to fast polling and retry
                log.warning("redis subscription lost (%s); polling every %.2fs", exc, self.fast_poll)
            finally:
                self._subscribed.clear()
                try:
                    await pubsub.aclose()
                    await client.aclose()
                except Exception:  # noqa: BLE001
                    pass
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, 5.0)
