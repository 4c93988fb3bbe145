"""1,000 concurrent WebSocket tunnels through a proxy in its own process: every one echoes, and the
proxy's memory per tunnel is measured (printed; bounded generously, never timed)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from websockets.asyncio.client import connect

from strangler.tests.conftest import proxy_in_process
from strangler.tests.ws_support import WsUpstream

HERE = Path(__file__).parent
TUNNELS = 1000
BATCH = 100  # handshakes in flight at once: the listen backlog is not what is measured
MAX_KIB_PER_TUNNEL = 128  # far above what a tunnel costs; catches a buffer kept per tunnel


def _rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("VmRSS")


@pytest.fixture(scope="module")
def proxy_proc(tmp_path_factory):
    upstream = WsUpstream("monolith")
    cfg = tmp_path_factory.mktemp("tunnels") / "routes.toml"
    cfg.write_text(f"""
[proxy]
listen = "127.0.0.1:0"
access_log = false
[proxy.limits]
max_tunnels = {TUNNELS * 2}
max_tunnels_per_client = {TUNNELS * 2}
max_connections_per_client = 0
[targets.monolith]
url = "http://127.0.0.1:{upstream.port}"
[targets.live]
url = "http://127.0.0.1:{upstream.port}"
[[routes]]
name = "live"
prefix = "/ws"
service = "live"
""")
    with proxy_in_process(cfg) as running:
        yield running
    upstream.close()


async def _open(port: int, n: int) -> list:
    async def one(i: int):
        ws = await connect(f"ws://127.0.0.1:{port}/ws/echo", open_timeout=30, compression=None, ping_interval=None)
        await ws.send(f"hello {i}")
        assert await ws.recv() == f"hello {i}"
        return ws

    out = []
    for start in range(0, n, BATCH):
        out += await asyncio.gather(*(one(i) for i in range(start, min(n, start + BATCH))))
    return out


def test_a_thousand_tunnels_with_bounded_memory(proxy_proc):
    pid, port = proxy_proc

    async def run() -> tuple[int, int, int]:
        warm = await _open(port, 20)  # first-use allocations are not per tunnel
        for ws in warm:
            await ws.close()
        await asyncio.sleep(0.5)
        before = _rss_kib(pid)
        tunnels = await _open(port, TUNNELS)
        await asyncio.sleep(0.5)
        during = _rss_kib(pid)
        # All still alive: one more round trip on every tunnel.
        for i, ws in enumerate(tunnels):
            await ws.send(b"x%d" % i)
        for i, ws in enumerate(tunnels):
            assert await ws.recv() == b"x%d" % i
        await asyncio.gather(*(ws.close() for ws in tunnels))
        await asyncio.sleep(1.0)
        return before, during, _rss_kib(pid)

    before, during, after = asyncio.run(run())
    per_tunnel = (during - before) / TUNNELS
    print(f"\nproxy RSS: {before} KiB before, {during} KiB with {TUNNELS} tunnels open "
          f"({per_tunnel:.1f} KiB per tunnel: client + upstream connection), {after} KiB after they closed")
    assert per_tunnel < MAX_KIB_PER_TUNNEL
