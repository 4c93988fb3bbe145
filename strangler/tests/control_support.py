"""Helpers for the control-plane tests: scratch PostgreSQL databases, route table files, and
real processes (upstreams, proxy replicas) started and stopped around a test.

Servers that a test needs and cannot reach make the test fail, never skip.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PYTHON = sys.executable
PG_ADMIN_URL = os.environ.get("STRANGLER_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
REDIS_URL = os.environ.get("STRANGLER_TEST_REDIS", "redis://127.0.0.1:6379/0")
TOKEN = "test-admin-token-" + secrets.token_hex(8)


@contextmanager
def pg_database() -> Iterator[str]:
    """A fresh database on the local PostgreSQL, dropped afterwards; yields its url."""
    import psycopg

    name = f"strangler_test_{secrets.token_hex(6)}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True, connect_timeout=5) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with psycopg.connect(PG_ADMIN_URL, autocommit=True, connect_timeout=5) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def config_text(
    *,
    store_url: str,
    monolith_port: int = 1,
    service_port: int = 2,
    redis_url: str | None = None,
    mode: str = "monolith",
    weight: int = 0,
    access_log: bool = False,
) -> str:
    return f"""
[proxy]
listen = "127.0.0.1:0"
access_log = {"true" if access_log else "false"}

[admin]
listen = "127.0.0.1:0"
token_env = "STRANGLER_ADMIN_TOKEN"

[store]
url = "{store_url}"
redis_url = "{redis_url or ""}"

[targets.monolith]
url = "http://127.0.0.1:{monolith_port}"

[targets.orders]
url = "http://127.0.0.1:{service_port}"

[[routes]]
name = "orders"
prefix = "/api/orders"
service = "orders"
mode = "{mode}"
weight = {weight}
cohort = "header:x-user-id"

[[routes]]
name = "billing"
prefix = "/api/billing"
service = "orders"
"""


PROVIDER_VERSION = "p1"  # the providers' version a test's [contracts] names as deployed


def pact_write(directory: Path, consumer: str, provider: str) -> str:
    """A minimal pact file between ``consumer`` and ``provider``; returns its version (content hash)."""
    from strangler.control.source_version import pact_version

    directory.mkdir(parents=True, exist_ok=True)
    content = json.dumps({"consumer": {"name": consumer}, "provider": {"name": provider}, "interactions": []}).encode()
    (directory / f"{consumer}-{provider}.json").write_bytes(content)
    return pact_version(content)


def contracts_text(record: Path, pacts: Path, providers: dict[str, list[str]]) -> str:
    """A [contracts] table: this record, these pacts, each service's providers at PROVIDER_VERSION."""
    lines = "".join(f"{service} = {json.dumps(names)}\n" for service, names in providers.items())
    return (f'\n[contracts]\nrecord = "{record}"\npacts = "{pacts}"\nprovider_version = "{PROVIDER_VERSION}"\n'
            f"[contracts.providers]\n{lines}")


def write_config(directory: Path, **kwargs: object) -> Path:
    path = directory / "routes.toml"
    path.write_text(config_text(**kwargs))  # type: ignore[arg-type]
    return path


def env(**extra: str) -> dict[str, str]:
    out = dict(os.environ)
    out.update({"STRANGLER_ADMIN_TOKEN": TOKEN, "PYTHONUNBUFFERED": "1", "USER": "tester"})
    out.update(extra)
    return out


def cli(config: Path, *args: str, **extra_env: str) -> subprocess.CompletedProcess[str]:
    """Run the real `strangler` command (python -m strangler) and capture its output."""
    return subprocess.run(
        [PYTHON, "-m", "strangler", "--config", str(config), *args],
        cwd=ROOT,
        env=env(**extra_env),
        capture_output=True,
        text=True,
        timeout=60,
    )


@dataclass
class Process:
    popen: subprocess.Popen[str]
    log: Path
    ports: dict[str, int]

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")

    def stop(self, timeout: float = 10.0) -> int:
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait()
        return self.popen.returncode


def spawn(args: list[str], log: Path, ready: str, timeout: float = 20.0, **extra_env: str) -> Process:
    """Start a process whose stdout+stderr go to ``log``; wait for a line matching ``ready``
    (a regex with named groups that are ports)."""
    handle = log.open("w")
    popen = subprocess.Popen(args, cwd=ROOT, env=env(**extra_env), stdout=handle, stderr=subprocess.STDOUT,
                             text=True)
    handle.close()
    pattern = re.compile(ready)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        match = pattern.search(log.read_text(errors="replace"))
        if match:
            return Process(popen, log, {k: int(v) for k, v in match.groupdict().items()})
        if popen.poll() is not None:
            raise AssertionError(f"{args} exited with {popen.returncode}:\n{log.read_text(errors='replace')}")
        time.sleep(0.05)
    popen.kill()
    raise AssertionError(f"{args} not ready after {timeout}s:\n{log.read_text(errors='replace')}")


def start_upstream(side: str, log: Path) -> Process:
    script = Path(__file__).with_name("side_upstream.py")
    return spawn([PYTHON, str(script), side], log, r"upstream ready port=(?P<port>\d+)")


def start_proxy(config: Path, log: Path, **extra_env: str) -> Process:
    return spawn(
        [PYTHON, "-m", "strangler", "--config", str(config), "serve"],
        log,
        r"strangler ready proxy=[^:]+:(?P<proxy>\d+) admin=[^:]+:(?P<admin>\d+)",
        **extra_env,
    )


@contextmanager
def live_stack(tmp: Path) -> Iterator[tuple[Process, Path]]:
    """A real `strangler serve` on a SQLite store in `tmp`, in front of a test upstream per side:
    the proxy process and its route table (write_config's); everything stopped afterwards."""
    monolith = start_upstream("monolith", tmp / "monolith.log")
    service = start_upstream("service", tmp / "service.log")
    config = write_config(tmp, store_url=f"sqlite:///{tmp}/routes.db", monolith_port=monolith.ports["port"],
                          service_port=service.ports["port"])
    proxy = start_proxy(config, tmp / "proxy.log")
    try:
        yield proxy, config
    finally:
        assert proxy.stop() == 0, proxy.log_text()
        monolith.stop()
        service.stop()
