"""The catalog service starts as a real process: ``manage.py migrate`` on a fresh SQLite database, one pass
of the outbox relay, then ``runserver`` on a free port answers 200 on /readyz (its database and
broker answer); with DEBUG off it refuses the development secrets.

The broker is a real Redis: SERVICE_TEST_BROKER_URL (default redis://127.0.0.1:6379/0)."""

import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from strangler.testing import LOOPBACK, free_port, process_stop

SERVICE_DIR = Path(__file__).resolve().parent.parent
SETTINGS = "catalog_service.settings"
BROKER_URL = os.environ.get("SERVICE_TEST_BROKER_URL", "redis://127.0.0.1:6379/0")
START_TIMEOUT = 60.0  # seconds for runserver to answer
COMMAND_TIMEOUT = 120.0
# What the test sets itself: nothing of the caller's environment may pick another database or secret.
DROPPED = frozenset({"DJANGO_SETTINGS_MODULE", "DATABASE_URL", "CELERY_BROKER_URL", "REDIS_URL", "DEBUG",
                     "SECRET_KEY", "INTERNAL_AUTH_SECRET", "INTERNAL_AUTH_KEYS", "VAR_DIR", "ALLOWED_HOSTS"})


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    kept = {k: v for k, v in os.environ.items() if k not in DROPPED}
    return kept | {
        "DJANGO_SETTINGS_MODULE": SETTINGS,
        "VAR_DIR": str(tmp_path / "var"),
        "DATABASE_URL": f"sqlite:///{tmp_path / 'service.sqlite3'}",
        "CELERY_BROKER_URL": BROKER_URL,
        "PYTHONUNBUFFERED": "1",
    } | extra


def _manage(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "manage.py", *args], cwd=SERVICE_DIR, env=env, capture_output=True,
                          text=True, timeout=COMMAND_TIMEOUT)


def _get(url: str) -> tuple[int, dict]:
    try:
        with urllib.request.urlopen(url, timeout=5) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"{}")


def _ready(url: str, server: subprocess.Popen) -> tuple[int, dict]:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline and server.poll() is None:
        try:
            return _get(url)
        except (urllib.error.URLError, ConnectionError):
            time.sleep(0.2)
    return 0, {}


def test_it_migrates_starts_and_is_ready(tmp_path):
    env = _env(tmp_path)
    migrate = _manage(env, "migrate", "--noinput")
    assert migrate.returncode == 0, migrate.stdout + migrate.stderr
    relay = _manage(env, "relay_outbox")
    assert relay.returncode == 0, relay.stdout + relay.stderr
    port = free_port()
    log_path = tmp_path / "server.log"
    with log_path.open("w") as log:
        server = subprocess.Popen([sys.executable, "manage.py", "runserver", f"{LOOPBACK}:{port}", "--noreload"],
                                  cwd=SERVICE_DIR, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        status, body = _ready(f"http://{LOOPBACK}:{port}/readyz", server)
        alive = _get(f"http://{LOOPBACK}:{port}/healthz") if status else (0, {})
    finally:
        process_stop(server)
    assert (status, body) == (200, {"status": "ok", "checks": {"database": "ok", "broker": "ok"}}), \
        log_path.read_text()
    assert alive == (200, {"status": "ok"})


def test_debug_off_refuses_the_development_secrets(tmp_path):
    no_key = _manage(_env(tmp_path, DEBUG="0"), "check")
    assert no_key.returncode != 0 and "SECRET_KEY must be set when DEBUG is off" in no_key.stderr
    no_secret = _manage(_env(tmp_path, DEBUG="0", SECRET_KEY="a-test-secret-key-" * 3), "check")
    assert no_secret.returncode != 0 and "INTERNAL_AUTH_SECRET must be set when DEBUG is off" in no_secret.stderr
    configured = _manage(_env(tmp_path, DEBUG="0", SECRET_KEY="a-test-secret-key-" * 3,
                              INTERNAL_AUTH_SECRET="a-test-internal-secret"), "check")
    assert configured.returncode == 0, configured.stderr
