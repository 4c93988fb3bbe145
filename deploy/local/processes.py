"""The stack's processes as plain child processes, without supervisord: what the tests, the
acceptance run and benchmarks start, watch and stop (`make run` hands the same `Proc` rows to
supervisord, deploy/local/supervise.py). Each runs in its own process group; a stack is healthy
only when its own processes answer."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
# supervisord starts lower priorities first (and stops them last).
PRIORITY_BROKER, PRIORITY_SERVICE, PRIORITY_PROXY = 10, 20, 30


@dataclass
class Proc:
    name: str
    cmd: list[str]
    health: str | None = None
    env: dict[str, str] = field(default_factory=dict)
    cwd: Path = ROOT
    priority: int = PRIORITY_SERVICE
    popen: subprocess.Popen | None = None


def start(procs: list[Proc], env: dict[str, str]) -> None:
    base_env = {**env, "PYTHONUNBUFFERED": "1", "PATH": f"{BIN}:{env.get('PATH', '')}"}
    for proc in procs:
        # Own process group: Ctrl-C reaches the supervisor only, which then stops each group in order.
        proc.popen = subprocess.Popen(proc.cmd, cwd=proc.cwd, env={**base_env, **proc.env}, start_new_session=True)
        print(f"[stack] started {proc.name} (pid {proc.popen.pid})", flush=True)


def wait_all_healthy(procs: list[Proc], seconds: float = 30) -> Proc | None:
    """None when every process with a health URL answers 200 and every started one still runs; else
    the first that did not. A process that exited is not healthy even if its URL answers: someone
    else is answering there (its port was taken)."""
    for proc in procs:
        if _exited(proc) or (proc.health and not wait_healthy(proc.health, seconds)):
            return proc
    return next((proc for proc in procs if _exited(proc)), None)


def _exited(proc: Proc) -> bool:
    return proc.popen is not None and proc.popen.poll() is not None


def _signal_group(proc: Proc, sig: int) -> None:
    try:
        os.killpg(proc.popen.pid, sig)  # type: ignore[union-attr]
    except ProcessLookupError:
        pass


def stop(procs: list[Proc]) -> None:
    for proc in procs:
        if proc.popen and proc.popen.poll() is None:
            _signal_group(proc, signal.SIGTERM)
    for proc in procs:
        if proc.popen:
            try:
                proc.popen.wait(timeout=10)
            except subprocess.TimeoutExpired:
                _signal_group(proc, signal.SIGKILL)
                proc.popen.wait()
            _signal_group(proc, signal.SIGKILL)  # stragglers of a group whose leader already left


def _answers(url: str) -> bool:
    """An HTTP health URL answers 200; a tcp://host:port one accepts a connection."""
    try:
        if url.startswith("tcp://"):
            host, port = url.removeprefix("tcp://").rsplit(":", 1)
            with socket.create_connection((host, int(port)), timeout=1):
                return True
        with urllib.request.urlopen(url, timeout=1) as resp:
            return resp.status == 200
    except OSError:
        return False


def wait_healthy(url: str, seconds: float = 30) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if _answers(url):
            return True
        time.sleep(0.3)
    return False
