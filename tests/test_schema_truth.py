"""The OpenAPI documents tell the truth: schemathesis, with every check, against live servers.

The monolith and the payments service each run under gunicorn as deployed (DEBUG off, their own
SQLite files; the monolith with a fast password hasher, tests/schemathesis/monolith_settings.py); a user and the demo products are seeded through the services, the user's token is
taken from the API. schemathesis then reads each project's /api/schema/ and sends what it derives
from it (examples, boundary values, generated and schema-violating inputs, undeclared methods,
requests without credentials, stateful sequences through the links it infers) and checks every
answer against the document: no 5xx; every status, content type, header and body as documented;
what the schema allows is not refused as malformed (400) and what it refuses is refused.

The run's settings (credentials per security scheme, which statuses count as a business refusal)
are in tests/schemathesis/schemathesis.toml, each with its reason. Determinism: one worker, a fixed
seed, schemathesis' deterministic generation (which keeps no example database); both servers start empty.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from strangler.proxy.credentials import HEADER as INTERNAL_HEADER
from strangler.proxy.credentials import credential_mint
from strangler.testing import free_port, process_stop

# db_independent: each server runs on a SQLite file of its own; the PostgreSQL pass skips it.
pytestmark = [pytest.mark.db_independent, pytest.mark.integration, pytest.mark.timeout(420)]

ROOT = Path(__file__).resolve().parents[1]
SERVICE_DIR = ROOT / "extracted" / "payments"
BIN = Path(sys.executable).parent
CONFIG = Path(__file__).resolve().parent / "schemathesis" / "schemathesis.toml"
SECRET = "schema-truth-internal-secret-0123456789"
SEED = 20261130
# Per operation and phase; with the coverage phase's boundary cases and the stateful sequences this
# is several hundred requests per document.
MAX_EXAMPLES = 15
CREDENTIAL_TTL = 1800  # seconds: outlives the run (the verifier refuses more than an hour)
_SCRUBBED = {"DJANGO_SETTINGS_MODULE", "DATABASE_URL", "CELERY_BROKER_URL", "REDIS_URL", "VAR_DIR",
             "MONOLITH_URL", "INTERNAL_AUTH_SECRET", "SECRET_KEY", "DEBUG", "PAYMENTS_IMPL",
             "STRANGLER_STORE_URL", "OUTBOX_QUEUES", "PAYMENTS_SYNC_QUEUES"}


@dataclass
class Server:
    name: str
    url: str
    log: Path
    proc: subprocess.Popen[bytes]

    def stop(self) -> None:
        process_stop(self.proc)


def _env(tmp: Path, name: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in _SCRUBBED}
    return env | {
        "PYTHONUNBUFFERED": "1", "DEBUG": "0", "SECRET_KEY": f"schema-truth-{name}-secret-key-0123456789abcdef",
        "INTERNAL_AUTH_SECRET": SECRET, "VAR_DIR": str(tmp / f"{name}-var"),
        "DATABASE_URL": f"sqlite:///{tmp / f'{name}.sqlite3'}", "LOG_LEVEL": "WARNING", **extra,
    }


def _run(args: list[str], *, cwd: Path, env: dict[str, str]) -> None:
    result = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=180)
    assert result.returncode == 0, f"{' '.join(args)} failed:\n{result.stdout}\n{result.stderr}"


def _gunicorn(name: str, wsgi: str, *, cwd: Path, env: dict[str, str], tmp: Path) -> Server:
    port = free_port()
    log = tmp / f"{name}.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [str(BIN / "gunicorn"), wsgi, "-b", f"127.0.0.1:{port}", "-w", "1", "-k", "gthread", "--threads", "4",
             "--graceful-timeout", "2"],
            cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT,
        )
    server = Server(name=name, url=f"http://127.0.0.1:{port}", log=log, proc=proc)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"{name} exited with {proc.returncode}:\n{log.read_text(errors='replace')[-4000:]}")
        try:
            if requests.get(f"{server.url}/healthz", timeout=1).status_code == 200:
                return server
        except requests.RequestException:
            pass
        time.sleep(0.1)
    server.stop()
    raise AssertionError(f"{name} never answered /healthz:\n{log.read_text(errors='replace')[-4000:]}")


@dataclass
class World:
    tmp: Path
    monolith: Server
    service: Server
    token: str


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    tmp = tmp_path_factory.mktemp("schema-truth")
    servers: list[Server] = []
    try:
        env = _env(tmp, "monolith", DJANGO_SETTINGS_MODULE="tests.schemathesis.monolith_settings", PAYMENTS_IMPL="local",
                   PAYMENTS_PROCESSOR="fake")
        _run([sys.executable, "manage.py", "migrate", "--noinput", "-v0"], cwd=ROOT, env=env)
        # The demo user and products (with stock), through the contexts' services.
        _run([sys.executable, "-m", "monolith.config.seed_demo"], cwd=ROOT, env=env)
        servers.append(monolith := _gunicorn("monolith", "monolith.config.wsgi", cwd=ROOT, env=env, tmp=tmp))

        from monolith.config.seed_demo import DEMO_EMAIL, DEMO_PASSWORD

        answer = requests.post(f"{monolith.url}/api/v1/users/token/",
                               json={"email": DEMO_EMAIL, "password": DEMO_PASSWORD}, timeout=30)
        assert answer.status_code == 200, answer.text
        token = answer.json()["token"]

        env = _env(tmp, "payments", DJANGO_SETTINGS_MODULE="payments_service.settings", MONOLITH_URL=monolith.url,
                   PAYMENTS_PROCESSOR="fake")
        _run([sys.executable, "manage.py", "migrate", "--noinput", "-v0"], cwd=SERVICE_DIR, env=env)
        servers.append(service := _gunicorn("payments", "payments_service.wsgi", cwd=SERVICE_DIR, env=env, tmp=tmp))
        yield World(tmp=tmp, monolith=monolith, service=service, token=token)
    finally:
        for server in servers:
            server.stop()


_SUMMARY = re.compile(r"^=+ SUMMARY =+$", re.MULTILINE)


def _schemathesis(world: World, *, name: str, schema: dict, base_url: str, caller: str,
                 audience: str) -> tuple[int, str]:
    """Run schemathesis on ``schema`` against ``base_url``; (exit code, output)."""
    workdir = world.tmp / f"st-{name}"
    workdir.mkdir()
    location = workdir / "schema.json"
    location.write_text(json.dumps(schema))
    env = os.environ | {
        "SCHEMA_TRUTH_USER_TOKEN": world.token,
        # What the strangler proxy adds to what it routes (and a service to its internal calls).
        "SCHEMA_TRUTH_INTERNAL_CREDENTIAL": credential_mint(SECRET, caller, audience=audience, ttl=CREDENTIAL_TTL),
        "NO_COLOR": "1",
    }
    args = [
        str(BIN / "schemathesis"), "--config-file", str(CONFIG), "run", str(location), "--url", base_url,
        "--checks", "all", "--max-examples", str(MAX_EXAMPLES), "--seed", str(SEED), "--generation-deterministic",
        "--workers", "1", "--no-color",
        "--report", "junit", "--report-junit-path", str(workdir / "junit.xml"),
    ]
    started = time.monotonic()
    result = subprocess.run(args, cwd=workdir, env=env, capture_output=True, text=True, timeout=360)
    output = result.stdout + result.stderr
    summary = output[_SUMMARY.search(output).start():] if _SUMMARY.search(output) else output[-3000:]
    print(f"\n--- schemathesis on the {name} schema ({time.monotonic() - started:.0f} s, exit {result.returncode})\n"
          f"{summary}")
    return result.returncode, output


def _schema(url: str, **headers: str) -> dict:
    response = requests.get(f"{url}/api/schema/", headers={"Accept": "application/json", **headers}, timeout=30)
    assert response.status_code == 200, response.text[:500]
    return response.json()


def test_the_monolith_schema_tells_the_truth(world: World) -> None:
    code, output = _schemathesis(world, name="monolith", schema=_schema(world.monolith.url),
                                 base_url=world.monolith.url, caller="payments-service", audience="monolith")
    assert code == 0, output[-20000:]


def test_the_payments_service_schema_tells_the_truth(world: World) -> None:
    # The service's whole /api/ is behind the proxy's credential, its schema too.
    credential = credential_mint(SECRET, "strangler", audience="payments-service")
    schema = _schema(world.service.url, **{INTERNAL_HEADER: credential})
    code, output = _schemathesis(world, name="payments service", schema=schema, base_url=world.service.url,
                                 caller="monolith", audience="payments-service")
    assert code == 0, output[-20000:]
