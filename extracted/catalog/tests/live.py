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
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from strangler.testing import LOOPBACK, free_port, process_stop

SERVICE_DIR = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
PG_ADMIN_URL = os.environ.get("CATALOG_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
BROKER_URL = os.environ.get("CATALOG_TEST_BROKER_URL", "redis://127.0.0.1:6379/12")
THREADS = 8
START_TIMEOUT = 60.0
COMMAND_TIMEOUT = 120.0
# Environment the test runner may carry that must not leak into the server's settings.
_SCRUBBED = {"DJANGO_SETTINGS_MODULE", "DATABASE_URL", "CELERY_BROKER_URL", "REDIS_URL", "VAR_DIR",
             "INTERNAL_AUTH_SECRET", "INTERNAL_AUTH_KEYS", "SECRET_KEY", "DEBUG", "OUTBOX_QUEUES"}


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


def service_start(tmp: Path, *, database_url: str, custody: str = "owner") -> Server:
    """``custody``: whether the fresh database holds the stock (the service's own tests: it does;
    a handover test starts it on "standby", as a deployment beside the monolith does)."""
    secret = secrets.token_urlsafe(24)
    kept = {k: v for k, v in os.environ.items() if k not in _SCRUBBED}
    env = kept | {"DJANGO_SETTINGS_MODULE": "catalog_service.settings", "DEBUG": "1", "PYTHONUNBUFFERED": "1",
                  "VAR_DIR": str(tmp / "var"), "DATABASE_URL": database_url, "CELERY_BROKER_URL": BROKER_URL,
                  "INTERNAL_AUTH_SECRET": secret, "CATALOG_STOCK_CUSTODY": custody}
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
def service_running(tmp: Path, *, custody: str = "owner") -> Iterator[Server]:
    """The service on a fresh PostgreSQL database for as long as the block runs; both dropped after."""
    with pg_database() as url:
        server = service_start(tmp, database_url=url, custody=custody)
        try:
            yield server
        finally:
            server.stop()
