"""`make run`: start the whole local stack on embedded defaults and supervise it.

The strangler proxy in front of the monolith and the extracted payments service, each with its
worker and outbox relay; SQLite files under var/ (one database per service), kombu's filesystem
broker shared by both, no server to install. Ctrl-C stops every process; if one dies, the others
are stopped too so nothing half-runs unnoticed. `stack.py migrate` migrates both databases.
"""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
VAR = ROOT / "var"
BIN = Path(sys.executable).parent
ROUTES = ROOT / "deploy" / "local" / "routes.toml"
PAYMENTS_DIR = ROOT / "extracted" / "payments"


@dataclass(frozen=True)
class Ports:
    proxy: int = 8000
    monolith: int = 8001
    payments: int = 8002
    admin: int = 8100


DEFAULT_PORTS = Ports()


@dataclass
class Proc:
    name: str
    cmd: list[str]
    health: str | None = None
    env: dict[str, str] = field(default_factory=dict)
    cwd: Path = ROOT
    popen: subprocess.Popen | None = None


def _secret(name: str, env_name: str, var: Path = VAR) -> str:
    """A secret from the environment, else the one kept in var/ from an earlier run, else a new one."""
    value = os.environ.get(env_name)
    path = var / name
    if not value:
        value = path.read_text().strip() if path.exists() else secrets.token_urlsafe(24)
    path.write_text(value)
    path.chmod(0o600)
    return value


def admin_token() -> str:
    return _secret("strangler-admin-token", "STRANGLER_ADMIN_TOKEN")


def internal_secret() -> str:
    return _secret("internal-auth-secret", "INTERNAL_AUTH_SECRET")


def routes_for(*, ports: Ports, store: str, record: Path | None = None,
               edits: tuple[tuple[str, str], ...] = ()) -> str:
    """This stack's route table with other ports, another store and, when given, another contract
    record (and any further ``(old, new)`` edits): what a test or bench stack of its own runs on.
    Every text it replaces must still be in the file, so a changed table fails loudly here."""
    text = ROUTES.read_text()
    d = DEFAULT_PORTS
    pairs = [(f"127.0.0.1:{d.proxy}", f"127.0.0.1:{ports.proxy}"),
             (f"127.0.0.1:{d.monolith}", f"127.0.0.1:{ports.monolith}"),
             (f"127.0.0.1:{d.payments}", f"127.0.0.1:{ports.payments}"),
             (f"127.0.0.1:{d.admin}", f"127.0.0.1:{ports.admin}"),
             ("sqlite:///var/strangler.db", store), *edits]
    if record is not None:
        pairs.append(('record = "contracts/verifications.jsonl"', f'record = "{record}"'))
    for old, new in pairs:
        if old not in text:
            raise ValueError(f"{old} no longer in {ROUTES}")
        text = text.replace(old, new)
    return text


def store_url(routes: Path) -> str:
    """The route store named in `routes`, with a relative SQLite path made absolute (processes run
    from different directories but must share one store)."""
    sys.path.insert(0, str(ROOT))
    from strangler.config import load_config

    url = load_config(routes, env={}).store_url
    if url.startswith("sqlite:///") and not url.startswith("sqlite:////"):
        url = f"sqlite:///{ROOT / url.removeprefix('sqlite:///')}"
    return url


def payments_env(*, var: Path, secret: str, ports: Ports) -> dict[str, str]:
    """The payments service's settings in the stack: its own database under var/payments."""
    return {"DJANGO_SETTINGS_MODULE": "payments_service.settings",
            "VAR_DIR": str(var / "payments"), "BROKER_DIR": str(var / "broker"), "INTERNAL_AUTH_SECRET": secret,
            "MONOLITH_URL": f"http://127.0.0.1:{ports.monolith}", "CELERY_QUEUE": "payments",
            "OUTBOX_QUEUES": "monolith"}


def monolith_env(*, var: Path, secret: str, ports: Ports, routes: Path) -> dict[str, str]:
    """The monolith follows the strangler's payments route for its own payments calls, and sends
    payment snapshots to the service's queue so both stores stay in sync whichever side serves."""
    return {"DJANGO_SETTINGS_MODULE": "monolith.config.settings",
            "VAR_DIR": str(var), "INTERNAL_AUTH_SECRET": secret, "PAYMENTS_IMPL": "follow",
            "STRANGLER_STORE_URL": store_url(routes), "PAYMENTS_ROUTE": "payments",
            "PAYMENTS_SERVICE_URL": f"http://127.0.0.1:{ports.payments}", "PAYMENTS_SYNC_QUEUES": "payments"}


def processes(*, token: str, secret: str, ports: Ports = DEFAULT_PORTS, routes: Path = ROUTES, var: Path = VAR,
              monolith_extra: dict[str, str] | None = None, payments_extra: dict[str, str] | None = None) -> list[Proc]:
    """The stack's processes; `routes` must agree with `ports` (tests pass a rewritten copy). The
    extras override settings per service (tests give each its own PostgreSQL database)."""
    py = str(BIN / "python")
    mono = {**monolith_env(var=var, secret=secret, ports=ports, routes=routes), **(monolith_extra or {})}
    pay = {**payments_env(var=var, secret=secret, ports=ports), **(payments_extra or {})}
    return [
        Proc("monolith", [str(BIN / "gunicorn"), "monolith.config.wsgi", "-b", f"127.0.0.1:{ports.monolith}",
                          "-k", "gthread", "--threads", "8", "-w", "2", "--access-logfile", "-",
                          # longer than the proxy keeps idle pooled connections (idle_timeout 50 s): the
                          # proxy ends idle connections, so no request races gunicorn's close (default 2 s)
                          "--keep-alive", "75"],
             health=f"http://127.0.0.1:{ports.monolith}/healthz", env=mono),
        Proc("worker", [str(BIN / "celery"), "-A", "monolith.config", "worker", "-Q", "monolith",
                        "--pool", "threads", "--concurrency", "4", "-l", "info", "-B", "-n", "monolith@%h",
                        "--schedule", str(var / "celerybeat-schedule")], env=mono),
        Proc("relay", [py, "manage.py", "relay_outbox", "--loop"], env=mono),
        Proc("payments", [str(BIN / "gunicorn"), "payments_service.wsgi", "-b", f"127.0.0.1:{ports.payments}",
                          "-k", "gthread", "--threads", "8", "-w", "2", "--access-logfile", "-", "--keep-alive", "75"],
             health=f"http://127.0.0.1:{ports.payments}/healthz", env=pay, cwd=PAYMENTS_DIR),
        Proc("payments-worker", [str(BIN / "celery"), "-A", "payments_service", "worker", "-Q", "payments",
                                 "--pool", "threads", "--concurrency", "4", "-l", "info", "-B", "-n", "payments@%h",
                                 "--schedule", str(var / "payments-celerybeat-schedule")], env=pay, cwd=PAYMENTS_DIR),
        Proc("payments-relay", [py, "manage.py", "relay_outbox", "--loop"], env=pay, cwd=PAYMENTS_DIR),
        Proc("strangler", [py, "-m", "strangler", "--config", str(routes), "serve"],
             health=f"http://127.0.0.1:{ports.proxy}/healthz",
             env={"STRANGLER_ADMIN_TOKEN": token, "INTERNAL_AUTH_SECRET": secret,
                  "STRANGLER_OVERRIDE_SECRET": os.environ.get("STRANGLER_OVERRIDE_SECRET", token)}),
    ]


def migrate(*, var: Path = VAR, env: dict[str, str] | None = None, payments_extra: dict[str, str] | None = None,
            monolith_extra: dict[str, str] | None = None) -> None:
    """Migrate both databases (each service owns its schema)."""
    base = dict(os.environ if env is None else env)
    secret = base.get("INTERNAL_AUTH_SECRET", "migrate-only")
    steps = [
        (ROOT, {**base, "DJANGO_SETTINGS_MODULE": "monolith.config.settings", "VAR_DIR": str(var),
                **(monolith_extra or {})}),
        (PAYMENTS_DIR, {**base, **payments_env(var=var, secret=secret, ports=DEFAULT_PORTS), **(payments_extra or {})}),
    ]
    for cwd, step_env in steps:
        subprocess.run([str(BIN / "python"), "manage.py", "migrate", "--noinput", "-v0"], cwd=cwd, env=step_env,
                       check=True, timeout=300)


def start(procs: list[Proc], env: dict[str, str]) -> None:
    base_env = {**env, "PYTHONUNBUFFERED": "1", "PATH": f"{BIN}:{env.get('PATH', '')}"}
    for proc in procs:
        # Own process group: Ctrl-C reaches the supervisor only, which then stops each group in order.
        proc.popen = subprocess.Popen(proc.cmd, cwd=proc.cwd, env={**base_env, **proc.env}, start_new_session=True)
        print(f"[stack] started {proc.name} (pid {proc.popen.pid})", flush=True)


def wait_all_healthy(procs: list[Proc], seconds: float = 30) -> Proc | None:
    """None when every process with a health URL answers 200; else the first that did not."""
    for proc in procs:
        if proc.health and not wait_healthy(proc.health, seconds):
            return proc
    return None


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


def wait_healthy(url: str, seconds: float = 30) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=1) as resp:
                if resp.status == 200:
                    return True
        except OSError:
            pass
        time.sleep(0.3)
    return False


WALKTHROUGH = """
The stack is up:
  strangler proxy   {proxy}     (clients come in here)
  monolith          {monolith}  (Django, behind the proxy)
  payments service  {payments}  (extracted; needs the internal credential the proxy adds)
  strangler admin   {admin}     token: {token}
  dashboard         {admin}/dashboard   (log in with the admin token above)
  OpenAPI schema    {proxy}/api/schema/

Try a full checkout through the proxy (seeded user demo@example.com / demo-pass-123):
  TOKEN=$(curl -s -X POST {proxy}/api/v1/users/token/ -H 'Content-Type: application/json' \\
      -d '{{"email": "demo@example.com", "password": "demo-pass-123"}}' | python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])')
  PRODUCT=$(curl -s {proxy}/api/v1/products/ | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["id"])')
  ORDER=$(curl -s -X POST {proxy}/api/v1/orders/ -H "Authorization: Token $TOKEN" -H 'Content-Type: application/json' \\
      -H "Idempotency-Key: $(python3 -c 'import uuid; print(uuid.uuid4())')" -d "{{\\"lines\\": [{{\\"product_id\\": \\"$PRODUCT\\", \\"quantity\\": 1}}]}}" \\
      | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
  curl -s -X POST {proxy}/api/v1/orders/$ORDER/checkout/ -H "Authorization: Token $TOKEN" \\
      -H 'Content-Type: application/json' -H "Idempotency-Key: checkout-$ORDER" -d '{{"card_token": "tok_visa"}}'
  # a declined card: create another order the same way, then use "tok_chargeDeclined" (402, stock restored)

Route state:   STRANGLER_ADMIN_TOKEN=$(cat var/strangler-admin-token) {bin}/strangler --config deploy/local/routes.toml routes
Cut over:      {bin}/python deploy/cutover.py    (contracts, backfill, shadow, canary 10% and 50%, service; see README)
Roll back:     {bin}/strangler --config deploy/local/routes.toml set payments --mode monolith --reason "..."
Mail sent:     ls var/mail/
Ctrl-C stops everything.
"""


def main(argv: list[str]) -> int:
    VAR.mkdir(exist_ok=True)
    if argv[1:] == ["migrate"]:
        migrate()
        return 0
    token = admin_token()
    procs = processes(token=token, secret=internal_secret())
    stopping = False

    def on_signal(*_args: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    start(procs, dict(os.environ))
    try:
        unhealthy = wait_all_healthy(procs)
        if unhealthy is not None:
            print(f"[stack] {unhealthy.name} did not become healthy at {unhealthy.health}", file=sys.stderr)
            return 1
        ports = DEFAULT_PORTS
        print(WALKTHROUGH.format(proxy=f"http://127.0.0.1:{ports.proxy}", monolith=f"http://127.0.0.1:{ports.monolith}",
                                 payments=f"http://127.0.0.1:{ports.payments}", admin=f"http://127.0.0.1:{ports.admin}",
                                 token=token, bin=BIN), flush=True)
        while not stopping:
            dead = [p for p in procs if p.popen and p.popen.poll() is not None]
            if dead:
                print(f"[stack] {dead[0].name} exited with {dead[0].popen.returncode}; stopping", file=sys.stderr)
                return 1
            time.sleep(0.5)
        return 0
    finally:
        stop(procs)
        print("[stack] stopped", flush=True)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
