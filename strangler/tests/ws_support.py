"""Real WebSocket upstreams for the tunnel tests: the `websockets` package's server, one per side,
on its own asyncio loop in a background thread (so a test can read what a server did).

Paths (the last segment counts): /echo echoes every message ("whoami" answers the server's name), /close closes with the
code and reason the client asks for ("close 4001 bye"), /flood sends `FLOOD_MESSAGES` binary
messages as fast as the connection takes them, counting them in `flooded`, /stall reads nothing for
`STALL` seconds, then counts what it receives in `drained`.

`ws_config` is a route table for a proxy in the test's process; `live_route_table` and `live_proxy`
are for a real `strangler serve` with its admin API and store, which the CLI drives.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from concurrent.futures import Future
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from websockets.asyncio.server import ServerConnection, serve

from strangler.testing import free_port
from strangler.tests.control_support import Process, start_proxy

FLOOD_MESSAGE = bytes(range(256)) * 256  # 64 KiB
FLOOD_MESSAGES = 512  # 32 MiB in all
MAX_MESSAGE = 16 * 1024 * 1024
STALL = 5.0


class WsUpstream:
    def __init__(self, name: str) -> None:
        self.name = name
        self.flooded = 0  # messages /flood has sent so far
        self.drained = 0  # bytes /stall received once it began reading
        self.closed_codes: list[int | None] = []  # close codes the server received, in order
        self.loop = asyncio.new_event_loop()
        ready: Future[int] = Future()
        self.thread = threading.Thread(target=self._run, args=(ready,), daemon=True)
        self.thread.start()
        self.port = ready.result(timeout=10)

    def _run(self, ready: Future[int]) -> None:
        asyncio.set_event_loop(self.loop)

        async def main() -> None:
            server = await serve(self._handle, "127.0.0.1", 0, max_size=MAX_MESSAGE, ping_interval=None)
            self.server = server
            ready.set_result(server.sockets[0].getsockname()[1])
            await server.serve_forever()

        try:
            self.loop.run_until_complete(main())
        except Exception:  # noqa: BLE001 - stopped
            pass

    async def _handle(self, ws: ServerConnection) -> None:
        path = ws.request.path if ws.request is not None else "/"
        name = path.partition("?")[0].rsplit("/", 1)[-1]  # /ws/flood behind the proxy
        try:
            if name == "flood":
                for _ in range(FLOOD_MESSAGES):
                    await ws.send(FLOOD_MESSAGE)
                    self.flooded += 1
                await ws.wait_closed()
            elif name == "stall":
                await asyncio.sleep(STALL)
                async for message in ws:
                    self.drained += len(message)
            elif name == "close":
                _, code, reason = str(await ws.recv()).split(" ", 2)
                await ws.close(int(code), reason)
            else:
                async for message in ws:
                    await ws.send(self.name if message == "whoami" else message)
        finally:
            self.closed_codes.append(ws.close_code)

    def close(self) -> None:
        def stop() -> None:
            self.server.close()

        self.loop.call_soon_threadsafe(stop)
        self.thread.join(timeout=5)


def ws_config(monolith: int, service: int, **route: Any) -> dict[str, Any]:
    """A route table for the tunnel tests: /ws on the monolith by default."""
    spec = {"name": "live", "prefix": "/ws", "service": "live", "mode": "monolith", "cohort": "header:x-user"}
    spec.update(route)
    return {
        "proxy": {"listen": "127.0.0.1:0", "override_secret_env": "TEST_OVERRIDE_SECRET", "access_log": True},
        "targets": {
            "monolith": {"url": f"http://127.0.0.1:{monolith}", "read_timeout": 5.0},
            "live": {"url": f"http://127.0.0.1:{service}", "read_timeout": 5.0},
        },
        "routes": [spec],
    }


def live_route_table(tmp: Path, monolith: int, service: int, *, mode: str = "monolith",
                     cohort: str | None = None) -> Path:
    """A route table with one tunnel route, `live` at /ws, in `mode`, its store in `tmp`."""
    path = tmp / "routes.toml"
    cohort_line = f'cohort = "{cohort}"\n' if cohort else ""
    path.write_text(f"""
[proxy]
listen = "127.0.0.1:0"
access_log = false

[admin]
listen = "127.0.0.1:{free_port()}"
token_env = "STRANGLER_ADMIN_TOKEN"

[store]
url = "sqlite:///{tmp}/routes.db"

[targets.monolith]
url = "http://127.0.0.1:{monolith}"

[targets.live]
url = "http://127.0.0.1:{service}"

[[routes]]
name = "live"
prefix = "/ws"
service = "live"
mode = "{mode}"
{cohort_line}tunnel = {{upgrades = ["websocket"], idle_timeout = 30, max_lifetime = 300}}
""")
    return path


@contextmanager
def live_proxy(tmp: Path, *, cohort: str | None = None) -> Iterator[tuple[Process, Path]]:
    """A real `strangler serve` in front of a WebSocket server per side (route `live`, see
    live_route_table): the process and its route table, for the CLI."""
    monolith, service = WsUpstream("monolith"), WsUpstream("service")
    config = live_route_table(tmp, monolith.port, service.port, cohort=cohort)
    running = start_proxy(config, tmp / "proxy.log")
    try:
        yield running, config
    finally:
        assert running.stop() == 0, running.log_text()
        monolith.close()
        service.close()
