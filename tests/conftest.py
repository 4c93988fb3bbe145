"""Fixtures of the integration tests: real Redis, a scratch database other processes can open,
and a helper that runs manage.py / a Celery worker against them."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
INTEGRATION_REDIS_URL = os.environ.get("INTEGRATION_REDIS_URL", "redis://127.0.0.1:6379/15")


@pytest.fixture
def integration_redis() -> Iterator[str]:
    """A flushed Redis database of its own. Unreachable Redis fails the test: it is not optional."""
    import redis

    client = redis.Redis.from_url(INTEGRATION_REDIS_URL, socket_connect_timeout=2, socket_timeout=5)
    try:
        client.ping()
    except redis.exceptions.RedisError as exc:
        pytest.fail(f"integration tests need Redis at {INTEGRATION_REDIS_URL}: {exc}")
    client.flushdb()
    yield INTEGRATION_REDIS_URL
    client.flushdb()
    client.close()


@pytest.fixture
def scratch_database_url(tmp_path: Path) -> Iterator[str]:
    """A database the test's subprocesses share: a throwaway PostgreSQL database when the run
    targets PostgreSQL, else a SQLite file (the in-memory test DB is invisible to a worker)."""
    outer = os.environ.get("DATABASE_URL", "")
    if not outer.startswith(("postgres://", "postgresql://")):
        yield f"sqlite:///{tmp_path / 'integration.sqlite3'}"
        return
    import psycopg

    parts = urlsplit(outer)
    name = f"strangler_it_{uuid.uuid4().hex[:12]}"
    admin = urlunsplit(parts._replace(path="/postgres"))
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield urlunsplit(parts._replace(path=f"/{name}"))
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


class Stack:
    """manage.py commands and one Celery worker, all on the same database, broker and VAR_DIR."""

    def __init__(self, *, database_url: str, broker_url: str, var_dir: Path) -> None:
        self.var_dir = var_dir
        self.mail_dir = var_dir / "mail"
        self.worker_log = var_dir / "worker.log"
        self.worker: subprocess.Popen | None = None
        drop = {"DATABASE_URL", "CELERY_BROKER_URL", "REDIS_URL", "CELERY_TASK_ALWAYS_EAGER", "EMAIL_BACKEND",
                "CELERY_QUEUE", "DEBUG", "SECRET_KEY"}
        self.env = {k: v for k, v in os.environ.items() if k not in drop} | {
            "DJANGO_SETTINGS_MODULE": "monolith.config.settings",
            "DATABASE_URL": database_url,
            "CELERY_BROKER_URL": broker_url,
            "VAR_DIR": str(var_dir),
            "EMAIL_BACKEND": "django.core.mail.backends.filebased.EmailBackend",
            "PYTHONUNBUFFERED": "1",
            "LOG_LEVEL": "INFO",
        }

    def manage(self, *args: str, timeout: float = 60) -> str:
        result = subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=self.env,
                                capture_output=True, text=True, timeout=timeout)
        assert result.returncode == 0, f"manage.py {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}"
        return result.stdout

    def python(self, code: str) -> object:
        """Run ``code`` in `manage.py shell`; it prints one JSON document last, which is returned."""
        out = self.manage("shell", "-c", code)
        return json.loads(out.strip().splitlines()[-1])

    def start_worker(self, *, timeout: float = 20) -> None:
        log = self.worker_log.open("w")
        self.worker = subprocess.Popen(
            [str(BIN / "celery"), "-A", "monolith.config", "worker", "-Q", "monolith", "--pool", "solo",
             "--concurrency", "1", "-l", "info", "-n", f"it-{uuid.uuid4().hex[:8]}@%h",
             "--without-gossip", "--without-mingle", "--without-heartbeat"],
            cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT,
        )
        self.wait_for_log(lambda text: " ready." in text, timeout=timeout, what="worker ready")

    def log_text(self) -> str:
        return self.worker_log.read_text() if self.worker_log.exists() else ""

    def wait_for_log(self, condition, *, timeout: float, what: str) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            text = self.log_text()
            if condition(text):
                return text
            if self.worker is not None and self.worker.poll() is not None:
                pytest.fail(f"worker exited ({self.worker.returncode}) waiting for {what}:\n{text}")
            time.sleep(0.1)
        pytest.fail(f"timed out after {timeout}s waiting for {what}:\n{self.log_text()}")

    def stop_worker(self) -> None:
        if self.worker is None or self.worker.poll() is not None:
            return
        self.worker.send_signal(signal.SIGTERM)  # warm shutdown
        try:
            self.worker.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.worker.kill()
            self.worker.wait(timeout=5)


@pytest.fixture
def stack(tmp_path: Path, scratch_database_url: str, integration_redis: str) -> Iterator[Stack]:
    running = Stack(database_url=scratch_database_url, broker_url=integration_redis, var_dir=tmp_path / "var")
    try:
        yield running
    finally:
        running.stop_worker()
