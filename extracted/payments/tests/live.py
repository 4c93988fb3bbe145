"""Real processes for the integration tests: the monolith and the service under gunicorn.

Each runs on a free loopback port with its own SQLite file and VAR_DIR under pytest's tmp dir,
so nothing touches the developer's var/ or the shared broker folder.
"""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from strangler.testing import free_port, process_stop

SERVICE_DIR = Path(__file__).resolve().parents[1]
REPO_ROOT = SERVICE_DIR.parents[1]
BIN = Path(sys.executable).parent
# Environment the test runner may carry that must not leak into the servers' settings.
_SCRUBBED = {"DJANGO_SETTINGS_MODULE", "DATABASE_URL", "CELERY_BROKER_URL", "REDIS_URL", "VAR_DIR",
             "MONOLITH_URL", "INTERNAL_AUTH_SECRET", "SECRET_KEY", "DEBUG", "OUTBOX_QUEUES"}


def base_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in _SCRUBBED}
    return {**env, "PYTHONUNBUFFERED": "1", "DEBUG": "1", **extra}


def manage(cwd: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    result = subprocess.run([sys.executable, "manage.py", *args], cwd=cwd, env=env, capture_output=True,
                            text=True, timeout=180)
    if result.returncode != 0:
        raise AssertionError(f"manage.py {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
    return result


def wait_healthy(url: str, proc: subprocess.Popen, log: Path, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"{url} exited with {proc.returncode}:\n{log.read_text()[-4000:]}")
        try:
            with urllib.request.urlopen(url, timeout=1) as resp:
                if resp.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"{url} never became healthy:\n{log.read_text()[-4000:]}")


@dataclasses.dataclass
class Server:
    """A gunicorn process; ``url`` has no trailing slash."""

    name: str
    url: str
    env: dict[str, str]
    cwd: Path
    log: Path
    proc: subprocess.Popen

    def stop(self) -> None:
        process_stop(self.proc)


def gunicorn(name: str, wsgi: str, *, cwd: Path, env: dict[str, str], log: Path) -> Server:
    port = free_port()
    with log.open("w") as out:
        proc = subprocess.Popen(
            [str(BIN / "gunicorn"), wsgi, "-b", f"127.0.0.1:{port}", "-k", "gthread", "--threads", "4",
             "-w", "1", "--access-logfile", "-"],
            cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT,
        )
    server = Server(name=name, url=f"http://127.0.0.1:{port}", env=env, cwd=cwd, log=log, proc=proc)
    try:
        wait_healthy(f"{server.url}/healthz", proc, log)
    except BaseException:
        server.stop()
        raise
    return server


def monolith_start(tmp: Path, *, secret: str) -> Server:
    env = base_env(DJANGO_SETTINGS_MODULE="monolith.config.settings", VAR_DIR=str(tmp / "var"),
                   DATABASE_URL=f"sqlite:///{tmp / 'mono.sqlite3'}", INTERNAL_AUTH_SECRET=secret)
    manage(REPO_ROOT, env, "migrate", "--noinput", "-v0")
    # The demo catalog, so tests can place real orders (a public charge names one the user owns).
    seeded = subprocess.run([sys.executable, "-m", "monolith.config.seed_demo"], cwd=REPO_ROOT, env=env,
                            capture_output=True, text=True, timeout=180)
    if seeded.returncode != 0:
        raise AssertionError(f"seeding the monolith failed:\n{seeded.stdout}\n{seeded.stderr}")
    return gunicorn("monolith", "monolith.config.wsgi", cwd=REPO_ROOT, env=env, log=tmp / "monolith.log")


def service_env(tmp: Path, *, secret: str, monolith_url: str) -> dict[str, str]:
    return base_env(DJANGO_SETTINGS_MODULE="payments_service.settings", VAR_DIR=str(tmp / "var"),
                    DATABASE_URL=f"sqlite:///{tmp / 'payments.sqlite3'}", INTERNAL_AUTH_SECRET=secret,
                    MONOLITH_URL=monolith_url)


def service_start(tmp: Path, *, secret: str, monolith_url: str) -> Server:
    env = service_env(tmp, secret=secret, monolith_url=monolith_url)
    manage(SERVICE_DIR, env, "migrate", "--noinput", "-v0")
    return gunicorn("payments-service", "payments_service.wsgi", cwd=SERVICE_DIR, env=env,
                    log=tmp / "service.log")
