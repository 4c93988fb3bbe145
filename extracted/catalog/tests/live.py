"""The catalog service as a real process: gunicorn (threads, so requests run concurrently) on a
fresh PostgreSQL database, as the payments service's tests start theirs (extracted/payments/tests/live.py).

PostgreSQL is CATALOG_TEST_PG (default the loopback server); unreachable, the test fails.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import secrets
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar
from urllib.parse import urlsplit, urlunsplit

from strangler.testing import LOOPBACK, free_port, process_stop

SERVICE_DIR = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
PG_ADMIN_URL = os.environ.get("CATALOG_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
BROKER_URL = os.environ.get("CATALOG_TEST_BROKER_URL", "redis://127.0.0.1:6379/12")
THREADS = 8
START_TIMEOUT = 60.0
COMMAND_TIMEOUT = 120.0
T = TypeVar("T")
# Environment the test runner may carry that must not leak into the server's settings.
_SCRUBBED = {"DJANGO_SETTINGS_MODULE", "DATABASE_URL", "CELERY_BROKER_URL", "REDIS_URL", "VAR_DIR",
             "INTERNAL_AUTH_SECRET", "INTERNAL_AUTH_KEYS", "SECRET_KEY", "DEBUG", "OUTBOX_QUEUES",
             "CELERY_QUEUE"}


@contextlib.contextmanager
def pg_database() -> Iterator[str]:
    """A fresh database on PostgreSQL, dropped afterwards; yields its url."""
    import psycopg

    name = f"catalog_test_{secrets.token_hex(6)}"
    try:
        with psycopg.connect(PG_ADMIN_URL, autocommit=True, connect_timeout=5) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
    except psycopg.OperationalError as exc:
        raise AssertionError(f"this test needs PostgreSQL at {PG_ADMIN_URL}: {exc}") from exc
    try:
        yield urlunsplit(urlsplit(PG_ADMIN_URL)._replace(path=f"/{name}"))
    finally:
        with psycopg.connect(PG_ADMIN_URL, autocommit=True, connect_timeout=5) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@dataclasses.dataclass
class Server:
    """A gunicorn process; ``url`` has no trailing slash."""

    url: str
    env: dict[str, str]
    secret: str
    log: Path
    proc: subprocess.Popen

    def stop(self) -> None:
        process_stop(self.proc)

    def python(self, code: str) -> object:
        """Run ``code`` in the service's `manage.py shell`; its last printed line is JSON, returned."""
        out = manage(self.env, "shell", "-c", code).stdout
        return json.loads(out.strip().splitlines()[-1])


def manage(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    result = subprocess.run([sys.executable, "manage.py", *args], cwd=SERVICE_DIR, env=env, capture_output=True,
                            text=True, timeout=COMMAND_TIMEOUT)
    if result.returncode != 0:
        raise AssertionError(f"manage.py {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
    return result


def _wait_healthy(url: str, proc: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"{url} exited with {proc.returncode}:\n{log.read_text()[-4000:]}")
        with contextlib.suppress(OSError), urllib.request.urlopen(url, timeout=1) as answer:
            if answer.status == 200:
                return
        time.sleep(0.2)
    raise AssertionError(f"{url} never became healthy:\n{log.read_text()[-4000:]}")


def service_start(tmp: Path, *, database_url: str, broker_url: str = BROKER_URL, **extra: str) -> Server:
    """``extra``: more environment, e.g. CELERY_QUEUE (its worker's queue), OUTBOX_QUEUES, or
    CATALOG_STOCK_CUSTODY="standby" (as deployed beside the monolith; its own tests hold the stock)."""
    secret = secrets.token_urlsafe(24)
    kept = {k: v for k, v in os.environ.items() if k not in _SCRUBBED}
    env = kept | {"DJANGO_SETTINGS_MODULE": "catalog_service.settings", "DEBUG": "1", "PYTHONUNBUFFERED": "1",
                  "VAR_DIR": str(tmp / "var"), "DATABASE_URL": database_url, "CELERY_BROKER_URL": broker_url,
                  "INTERNAL_AUTH_SECRET": secret, "CATALOG_STOCK_CUSTODY": "owner"} | extra
    manage(env, "migrate", "--noinput", "-v0")
    port, log = free_port(), tmp / "service.log"
    with log.open("w") as out:
        proc = subprocess.Popen(
            [str(BIN / "gunicorn"), "catalog_service.wsgi", "-b", f"{LOOPBACK}:{port}", "-k", "gthread",
             "--threads", str(THREADS), "-w", "1"],
            cwd=SERVICE_DIR, env=env, stdout=out, stderr=subprocess.STDOUT,
        )
    server = Server(url=f"http://{LOOPBACK}:{port}", env=env, secret=secret, log=log, proc=proc)
    try:
        _wait_healthy(f"{server.url}/healthz", proc, log)
    except BaseException:
        server.stop()
        raise
    return server


@contextlib.contextmanager
def service_running(tmp: Path, **options: str) -> Iterator[Server]:
    """The service on a fresh PostgreSQL database for as long as the block runs; both dropped after.
    ``options``: service_start's (broker_url, more environment)."""
    with pg_database() as url:
        server = service_start(tmp, database_url=url, **options)
        try:
            yield server
        finally:
            server.stop()


@contextlib.contextmanager
def worker_running(server: Server) -> Iterator[Path]:
    """The service's Celery worker on its queue (CELERY_QUEUE, default "catalog") and broker, as the
    service runs it; yields its log once it is ready, stops it after."""
    queue = server.env.get("CELERY_QUEUE", "catalog")
    log = server.log.with_name(f"worker-{queue}.log")
    with log.open("w") as out:
        proc = subprocess.Popen(
            [str(BIN / "celery"), "-A", "catalog_service", "worker", "-Q", queue, "--pool", "solo", "-l", "info",
             "-n", f"{queue}-{secrets.token_hex(4)}@%h", "--without-gossip", "--without-mingle",
             "--without-heartbeat"],
            cwd=SERVICE_DIR, env=server.env, stdout=out, stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while " ready." not in log.read_text():
            if proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"the catalog worker did not start ({proc.poll()}):\n{log.read_text()[-4000:]}")
            time.sleep(0.2)
        yield log
    finally:
        process_stop(proc)


def eventually(read: Callable[[], T], done: Callable[[T], bool], *, timeout: float = 30.0, what: str) -> T:
    """``read()`` again until ``done`` holds of it (a worker applies asynchronously); fails after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        value = read()
        if done(value):
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}; last: {value!r}")
        time.sleep(0.3)
