"""Server-sent events through the strangler at the issue's scale: a 60 s stream with a heartbeat every
5 s, a 10 s read timeout and a response deadline shorter than the stream.

    python bench/sse.py [--stream 60] [--beat 5] [--read-timeout 10] [--deadline 30] [--output FILE]

Two runs against the test upstream (strangler/tests/upstream_app.py /sse) through a strangler in its
own process: a healthy stream, which must outlive the response deadline with every heartbeat on
time, and one whose upstream falls silent for longer than the read timeout after two events, which
must be cut about one read timeout after its last event. Writes bench/results/sse.json. The short
versions of both run in the test suite (strangler/tests/test_proxy_sse.py).
"""

from __future__ import annotations

import argparse
import json
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from strangler.testing import process_stop

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results" / "sse.json"
PYTHON = sys.executable
UPSTREAM = ROOT / "strangler" / "tests" / "upstream_app.py"


def log(message: str) -> None:
    print(f"[bench-sse {time.strftime('%H:%M:%S')}] {message}", flush=True)


def ended_cleanly(data: bytes) -> bool:
    """The chunked answer's last chunk arrived (not merely a head whose last header value ends in 0)."""
    _, sep, body = data.partition(b"\r\n\r\n")
    return bool(sep) and (body == b"0\r\n\r\n" or body.endswith(b"\r\n0\r\n\r\n"))


def stream(port: int, query: str, timeout: float) -> dict:
    """Arrival times of the events (seconds after the request) and whether the stream ended cleanly."""
    started = time.monotonic()
    arrivals: list[float] = []
    data = b""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(b"GET /sse?" + query.encode() + b" HTTP/1.1\r\nHost: x\r\nAccept: text/event-stream\r\n\r\n")
        while not ended_cleanly(data):
            try:
                chunk = sock.recv(65536)
            except (ConnectionResetError, TimeoutError):
                break
            if not chunk:
                break
            data += chunk
            arrivals += [time.monotonic() - started] * (data.count(b"event: beat") - len(arrivals))
    ended = time.monotonic() - started
    gaps = [b - a for a, b in zip(arrivals, arrivals[1:], strict=False)]
    return {"events": len(arrivals), "complete": ended_cleanly(data) and b"event: end" in data,
            "duration_s": round(ended, 3), "max_gap_s": round(max(gaps), 3) if gaps else None,
            "first_event_s": round(arrivals[0], 3) if arrivals else None,
            "silence_before_cut_s": round(ended - arrivals[-1], 3) if arrivals else None}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--stream", type=float, default=60.0, help="seconds the healthy stream lasts")
    parser.add_argument("--beat", type=float, default=5.0, help="seconds between heartbeats")
    parser.add_argument("--read-timeout", type=float, default=10.0)
    parser.add_argument("--deadline", type=float, default=30.0, help="the route's response deadline (< --stream)")
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    beats = int(args.stream / args.beat)
    procs: list[subprocess.Popen] = []
    with tempfile.TemporaryDirectory(prefix="strangler-bench-sse-") as tmp:
        try:
            upstream = subprocess.Popen([PYTHON, str(UPSTREAM), "monolith", "0"], stdout=subprocess.PIPE, text=True)
            procs.append(upstream)
            assert upstream.stdout is not None
            upstream_port = int(upstream.stdout.readline())
            table = Path(tmp) / "routes.toml"
            table.write_text(f"""
[proxy]
listen = "127.0.0.1:0"
access_log = false
[targets.monolith]
url = "http://127.0.0.1:{upstream_port}"
read_timeout = {args.read_timeout}
[[routes]]
name = "DEFAULT"
prefix = "/"
deadlines = {{response = {args.deadline}}}
""")
            proxy = subprocess.Popen([PYTHON, "-m", "strangler.tests.proxy_proc", str(table)], stdout=subprocess.PIPE,
                                     text=True, cwd=ROOT)
            procs.append(proxy)
            assert proxy.stdout is not None
            port = int(proxy.stdout.readline())
            log(f"healthy stream: {beats} events {args.beat:g}s apart, response deadline {args.deadline:g}s")
            healthy = stream(port, f"beats={beats}&beat={args.beat}", args.stream * 2)
            log(f"  {healthy}")
            gap = args.read_timeout * 1.5
            log(f"stalled stream: silent {gap:g}s after two events, read timeout {args.read_timeout:g}s")
            stalled = stream(port, f"beats=4&beat={args.beat}&gap={gap}", args.stream * 2)
            log(f"  {stalled}")
        finally:
            for proc in reversed(procs):
                process_stop(proc)
    payload = {
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "settings": {"stream_s": args.stream, "beat_s": args.beat, "read_timeout_s": args.read_timeout,
                     "response_deadline_s": args.deadline},
        "healthy": healthy,
        "stalled": stalled,
        "summary": {
            "healthy_outlived_the_deadline": healthy["complete"] and healthy["duration_s"] > args.deadline,
            "stalled_cut_after_s": stalled["silence_before_cut_s"],
            "stalled_cut": not stalled["complete"],
        },
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(payload, indent=2) + "\n")
    log(f"figures in {args.output}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
