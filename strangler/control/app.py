"""Composition root: config -> store -> proxy + admin API + watcher + rollout controller, and a
graceful stop.

The only place that creates connections and servers; everything else receives them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import sys
import time
from pathlib import Path

from strangler.control.admin import AdminServer
from strangler.control.flip_gate import config_guard
from strangler.control.rollout.controller import RolloutController
from strangler.control.rollout.records import RolloutRecords
from strangler.control.store import open_store
from strangler.control.sync_gate import sync_guard
from strangler.control.watcher import RedisPublisher, Watcher
from strangler.proxy import tracing
from strangler.proxy.config import ProxyConfig, load_config

log = logging.getLogger("strangler.app")


class StartupError(Exception):
    """The proxy cannot start; the message says what to fix."""


def admin_token(config: ProxyConfig) -> str:
    token = os.environ.get(config.admin_token_env, "").strip()
    if not token:
        raise StartupError(
            f"no admin token: set ${config.admin_token_env} (e.g. to the output of "
            "`python -c 'import secrets; print(secrets.token_urlsafe(32))'`); the admin API never runs open"
        )
    return token


async def serve(config: ProxyConfig, *, stop: asyncio.Event | None = None) -> None:
    """Run until SIGTERM/SIGINT (or ``stop`` is set), then drain and close."""
    from strangler.proxy.server import ProxyServer  # the data plane; imported here to keep `check` light

    token = admin_token(config)
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    async with contextlib.AsyncExitStack() as started:  # closes only what did start, in reverse
        publisher = RedisPublisher(config.redis_url) if config.redis_url else None
        if publisher is not None:
            started.callback(publisher.close)
        store = await asyncio.to_thread(open_store, config.store_url, config.table, on_commit=publisher,
                                        guard=config_guard(config.contracts, sync_guard(config)))
        started.callback(store.close)
        records = await asyncio.to_thread(RolloutRecords(config.store_url).open)
        started.callback(records.close)
        proxy = ProxyServer(config)
        if tracing.enable_from_env() is not None:  # off unless OTEL_* asks for it (strangler.proxy.tracing)
            started.callback(tracing.disable)  # after the proxy drained: its last spans are exported
        watcher = Watcher(store, proxy, redis_url=config.redis_url)
        admin = AdminServer(
            store=store,
            proxy=proxy,
            token=token,
            host=config.admin_host,
            port=config.admin_port,
            on_change=lambda: watcher.refresh("admin"),
            rollouts=records,
        )
        await watcher.start()  # applies the stored states before the first request is accepted
        started.push_async_callback(watcher.close)
        await proxy.start()
        started.push_async_callback(proxy.close)  # stops accepting, lets in-flight requests finish
        await admin.start()
        started.push_async_callback(admin.close)
        controller = RolloutController(store=store, records=records, table=config.table,
                                       snapshot=lambda: proxy.metrics.snapshot(time.monotonic()),
                                       tick=config.rollout_tick, lease=config.rollout_lease,
                                       reconcile_commands=config.rollout_reconcile)
        await controller.start()
        started.push_async_callback(controller.close)  # first to stop: resigns the lease for the next replica
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
            started.callback(loop.remove_signal_handler, sig)
        # One parseable line: tests and scripts use it to find ports chosen by the OS (port 0).
        print(
            f"strangler ready proxy={config.listen_host}:{proxy.port} admin={config.admin_host}:{admin.port} "
            f"store_version={watcher.version} pid={os.getpid()}",
            flush=True,
        )
        await stop.wait()
        log.info("stopping: closing the admin API, then draining the proxy")


def run(config_path: str | os.PathLike[str]) -> None:
    logging.basicConfig(
        level=os.environ.get("STRANGLER_LOG_LEVEL", "INFO"),
        format="%(asctime)s %(levelname)s %(name)s %(message)s",
        stream=sys.stderr,
    )
    config = load_config(Path(config_path))
    admin_token(config)  # fail before binding anything
    try:
        tracing.exporter_names()
    except tracing.TracingConfigError as exc:
        raise StartupError(str(exc)) from None
    import uvloop  # a hard dependency of the proxy: the data plane is tuned for it

    uvloop.run(serve(config))
