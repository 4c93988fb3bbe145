"""A live payments server for tests of the remote payments client (payments' and orders' tests):
the monolith's own gunicorn on its own SQLite file serves the internal payments API, the same
paths the extracted service serves. It lives outside the contexts so both can use it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from django.conf import settings

from strangler.testing import free_port

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


class PaymentsServer:
    """Migrated at construction; start/stop at will, always on the same port."""

    def __init__(self, directory: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        drop = {"DATABASE_URL", "CELERY_BROKER_URL", "REDIS_URL", "PAYMENTS_IMPL", "STRANGLER_STORE_URL"}
        self.env = {k: v for k, v in os.environ.items() if k not in drop} | {
            "DJANGO_SETTINGS_MODULE": "monolith.config.settings",
            "DATABASE_URL": f"sqlite:///{directory / 'svc.sqlite3'}",
            "VAR_DIR": str(directory / "var"),
            "DEBUG": "1",
            "PAYMENTS_IMPL": "local",
            "PAYMENTS_PROCESSOR": "fake",
            "INTERNAL_AUTH_SECRET": settings.INTERNAL_AUTH_SECRET,
            "LOG_LEVEL": "WARNING",
        }
        self.log = directory / "gunicorn.log"
        self.proc: subprocess.Popen | None = None
        subprocess.run([sys.executable, "manage.py", "migrate", "--noinput", "-v0"], cwd=ROOT, env=self.env,
                       check=True, timeout=180)

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def start(self) -> None:
        if self.running:
            return
        self.proc = subprocess.Popen(
            [str(BIN / "gunicorn"), "monolith.config.wsgi", "-b", f"127.0.0.1:{self.port}", "-w", "1",
             "-k", "gthread", "--threads", "4"],
            cwd=ROOT, env=self.env, stdout=self.log.open("a"), stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                pytest.fail(f"gunicorn exited:\n{self.log.read_text()}")
            try:
                if requests.get(self.url + "/healthz", timeout=1).status_code == 200:
                    return
            except requests.RequestException:
                time.sleep(0.1)
        pytest.fail(f"gunicorn did not come up:\n{self.log.read_text()}")

    def stop(self) -> None:
        if not self.running:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=5)


@pytest.fixture(scope="module")
def payments_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PaymentsServer]:
    """A migrated server per test module, stopped at its end (a plugin of the root conftest)."""
    server = PaymentsServer(tmp_path_factory.mktemp("payments-svc"))
    try:
        yield server
    finally:
        server.stop()
