"""Test support for a kit user's test suite (and ours): ports for the live servers a test starts,
stopping them, and the CPU time a server used (benchmarks divide it by the requests it served).

`free_port()` answers a loopback port that nothing listens on and that this process has not handed
out before. Asking the kernel for port 0 is not enough: it recycles a port as soon as the probing
socket closes, so two calls in a row can answer the same number (seen in CI: the proxy and the
monolith of one test stack were given one port; the proxy could not bind, the monolith answered in
its place and the test measured the wrong process). Ports are drawn below the kernel's ephemeral
range, so an outgoing connection (to PostgreSQL, Redis, a server under test) cannot take one
between the draw and the server's bind.
"""

from __future__ import annotations

import os
import random
import socket
import subprocess
import threading
from pathlib import Path

LOOPBACK = "127.0.0.1"
# Linux's default ip_local_port_range starts at 32768; registered services seldom sit in this band,
# and one that does is skipped by the bind check.
PORT_RANGE = range(20_000, 32_000)
MAX_DRAWS = 200
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")  # /proc counts CPU time in these
STOP_TIMEOUT = 10.0  # seconds a stopped server gets to exit before it is killed

_handed_out: set[int] = set()
_lock = threading.Lock()
_random = random.SystemRandom()


def free_port(host: str = LOOPBACK) -> int:
    """A port on `host` nothing listens on now, distinct from every port this process drew before."""
    with _lock:
        for _ in range(MAX_DRAWS):
            port = _random.choice(PORT_RANGE)
            if port in _handed_out or not _bindable(host, port):
                continue
            _handed_out.add(port)
            return port
    raise RuntimeError(f"no free port on {host} in {PORT_RANGE.start}-{PORT_RANGE.stop - 1} after {MAX_DRAWS} draws")


def free_ports(count: int, host: str = LOOPBACK) -> list[int]:
    """`count` distinct free ports."""
    return [free_port(host) for _ in range(count)]


def _bindable(host: str, port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def process_stop(proc: subprocess.Popen, timeout: float = STOP_TIMEOUT) -> None:
    """Stop a server a test started: SIGTERM, then SIGKILL if it has not exited after ``timeout``."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def process_tree(pid: int) -> list[int]:
    """``pid`` and every process below it (nginx's master and workers, gunicorn's arbiter and workers),
    read from Linux's /proc."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue  # gone meanwhile
            children.setdefault(ppid, []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        todo.extend(children.get(current, []))
    return found


def cpu_seconds(pids: list[int]) -> float:
    """User plus system CPU time the processes have used so far (those still running)."""
    ticks = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        ticks += int(fields[11]) + int(fields[12])  # utime, stime: fields 14 and 15 of stat
    return ticks / CLOCK_TICKS
