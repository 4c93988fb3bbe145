"""WebSocket round trips: direct vs nginx vs the strangler, in one run on loopback.

    python bench/ws.py [--duration 10] [--connections 32] [--size 64] [--output FILE]

Starts a `websockets` echo server in its own process, the strangler (one process, uvloop, access
log on) and nginx with the strangler's own nginx export of the same route table, then keeps
`--connections` tunnels busy with sequential round trips of `--size`-byte binary messages against
each, and writes round trips/s, p50/p99, each proxy's CPU per round trip (its process tree's user +
system time over the run) and the strangler/nginx ratios to bench/results/ws.json.
The client is Python (websockets on asyncio) in this process: it loads the machine too, the same
for every target, so the ratios compare like with like; the absolute figures are the client's as
much as the proxies'.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from strangler.export.nginx import nginx_export
from strangler.proxy.config import load_config
from strangler.testing import cpu_seconds, free_port, process_stop, process_tree

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results" / "ws.json"
PYTHON = sys.executable
NGINX = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None)
READY_TIMEOUT = 20.0  # seconds a started server has to accept connections
ROUTE = "/ws/echo"

UPSTREAM = """
import asyncio, sys
from websockets.asyncio.server import serve

async def echo(ws):
    async for message in ws:
        await ws.send(message)

async def main():
    async with serve(echo, "127.0.0.1", int(sys.argv[1]), compression=None, ping_interval=None,
                     max_size=1 << 20):
        await asyncio.Event().wait()

asyncio.run(main())
"""


def log(message: str) -> None:
    print(f"[bench-ws {time.strftime('%H:%M:%S')}] {message}", flush=True)


def wait_port(port: int, proc: subprocess.Popen) -> None:
    deadline = time.monotonic() + READY_TIMEOUT
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"{proc.args} exited with {proc.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.05)
    raise SystemExit(f"nothing listens on {port} after {READY_TIMEOUT}s")


def strangler_toml(work: Path, upstream: int) -> Path:
    path = work / "strangler.toml"
    path.write_text(f"""
[proxy]
listen = "127.0.0.1:0"
access_log = true
[proxy.limits]
max_tunnels = 10000
max_tunnels_per_client = 0
max_connections_per_client = 0
[targets.monolith]
url = "http://127.0.0.1:{upstream}"
[targets.live]
url = "http://127.0.0.1:{upstream}"
[[routes]]
name = "live"
prefix = "/ws"
service = "live"
mode = "service"
""")
    return path


def nginx_main(work: Path, listen: int, table_file: Path) -> Path:
    """nginx running the strangler's own export of the same route table."""
    table = load_config(table_file, env={}).table
    (work / "strangler-nginx.conf").write_text(
        nginx_export(table, {r.name: r.state for r in table.routes}, listen=f"127.0.0.1:{listen}", source="bench"))
    temp = work / "nginx-tmp"
    temp.mkdir(exist_ok=True)
    conf = work / "nginx.conf"
    conf.write_text(f"""worker_processes 1;
daemon off;
pid {work}/nginx.pid;
error_log {work}/nginx-error.log warn;
events {{ worker_connections 4096; }}
http {{
  access_log {work}/nginx-access.log combined buffer=64k flush=1s;
  client_body_temp_path {temp}/body; proxy_temp_path {temp}/proxy; fastcgi_temp_path {temp}/fcgi;
  uwsgi_temp_path {temp}/uwsgi; scgi_temp_path {temp}/scgi;
  include {work}/strangler-nginx.conf;
}}
""")
    return conf


async def round_trips(port: int, connections: int, size: int, duration: float) -> dict:
    from websockets.asyncio.client import connect

    payload = os.urandom(size)
    latencies: list[float] = []
    stop = time.monotonic() + duration

    async def one() -> None:
        async with connect(f"ws://127.0.0.1:{port}{ROUTE}", compression=None, ping_interval=None,
                           open_timeout=30) as ws:
            while time.monotonic() < stop:
                started = time.perf_counter()
                await ws.send(payload)
                await ws.recv()
                latencies.append(time.perf_counter() - started)

    began = time.monotonic()
    await asyncio.gather(*(one() for _ in range(connections)))
    elapsed = time.monotonic() - began
    latencies.sort()
    return {
        "round_trips_per_s": round(len(latencies) / elapsed, 1),
        "p50_ms": round(statistics.median(latencies) * 1000, 3),
        "p99_ms": round(latencies[int(len(latencies) * 0.99) - 1] * 1000, 3),
        "round_trips": len(latencies),
    }


def measure(name: str, port: int, args: argparse.Namespace, proxy_pid: int | None) -> dict:
    """Round trips through ``port``; with ``proxy_pid``, the CPU that proxy (and its children) used
    per round trip (two messages through it, one each way)."""
    asyncio.run(round_trips(port, args.connections, args.size, args.warmup))
    pids = process_tree(proxy_pid) if proxy_pid else []
    before = cpu_seconds(pids)
    result = asyncio.run(round_trips(port, args.connections, args.size, args.duration))
    result["cpu_us_per_round_trip"] = (round((cpu_seconds(pids) - before) * 1e6 / max(result["round_trips"], 1), 2)
                                       if proxy_pid else None)
    result["loadavg_1m"] = round(os.getloadavg()[0], 2)
    cpu = f", proxy CPU {result['cpu_us_per_round_trip']} us/round trip" if proxy_pid else ""
    log(f"{name}: {result['round_trips_per_s']:.0f} round trips/s, p50 {result['p50_ms']:.2f} ms, "
        f"p99 {result['p99_ms']:.2f} ms{cpu}")
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per measured run")
    parser.add_argument("--warmup", type=float, default=2.0)
    parser.add_argument("--connections", type=int, default=32, help="tunnels kept busy at once")
    parser.add_argument("--size", type=int, default=64, help="bytes per message")
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    if not NGINX:
        raise SystemExit("nginx is not installed: run bash bench/setup.sh (apt-get install nginx)")
    procs: list[subprocess.Popen] = []
    runs: dict[str, dict] = {}
    with tempfile.TemporaryDirectory(prefix="strangler-bench-ws-") as tmp:
        work = Path(tmp)
        try:
            upstream = free_port()
            procs.append(subprocess.Popen([PYTHON, "-c", UPSTREAM, str(upstream)]))
            wait_port(upstream, procs[-1])
            table_file = strangler_toml(work, upstream)
            strangler = subprocess.Popen([PYTHON, "-m", "strangler.tests.proxy_proc", str(table_file)],
                                         stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, cwd=ROOT)
            procs.append(strangler)
            assert strangler.stdout is not None
            strangler_port = int(strangler.stdout.readline())
            nginx_port = free_port()
            procs.append(subprocess.Popen([NGINX, "-p", str(work), "-c", str(nginx_main(work, nginx_port, table_file)),
                                           "-e", str(work / "nginx-error.log")]))
            wait_port(nginx_port, procs[-1])
            for name, port, pid in (("direct", upstream, None), ("nginx", nginx_port, procs[-1].pid),
                                    ("strangler", strangler_port, strangler.pid)):
                runs[name] = measure(name, port, args, pid)
        finally:
            for proc in reversed(procs):
                process_stop(proc)
    ratio = runs["strangler"]["round_trips_per_s"] / runs["nginx"]["round_trips_per_s"]
    payload = {
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()},
        "settings": {"duration_s": args.duration, "warmup_s": args.warmup, "connections": args.connections,
                     "message_bytes": args.size, "client": "websockets (asyncio) in the bench process",
                     "upstream": "websockets echo server, its own process, no compression",
                     "nginx": "worker_processes 1, the strangler's nginx export, buffered access log",
                     "strangler": "1 process, uvloop, access log on"},
        "runs": runs,
        "summary": {
            "round_trips_vs_nginx": round(ratio, 3),
            "added_p50_ms_vs_nginx": round(runs["strangler"]["p50_ms"] - runs["nginx"]["p50_ms"], 3),
            "cpu_per_round_trip_vs_nginx": round(runs["strangler"]["cpu_us_per_round_trip"]
                                                 / max(runs["nginx"]["cpu_us_per_round_trip"], 0.01), 3),
        },
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(payload, indent=2) + "\n")
    log(f"strangler / nginx round trips: {ratio:.2f}x; figures in {args.output}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
