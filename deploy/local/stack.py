"""`make run`: start the whole local stack on embedded defaults and supervise it.

SQLite files under var/, kombu's filesystem broker, no server to install. Ctrl-C stops every
process; if one dies, the others are stopped too so nothing half-runs unnoticed.
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


@dataclass(frozen=True)
class Ports:
    proxy: int = 8000
    monolith: int = 8001
    admin: int = 8100


DEFAULT_PORTS = Ports()


@dataclass
class Proc:
    name: str
    cmd: list[str]
    health: str | None = None
    env: dict[str, str] = field(default_factory=dict)
    popen: subprocess.Popen | None = None


def admin_token() -> str:
    token = os.environ.get("STRANGLER_ADMIN_TOKEN")
    path = VAR / "strangler-admin-token"
    if not token:
        token = path.read_text().strip() if path.exists() else secrets.token_urlsafe(24)
    path.write_text(token)
    path.chmod(0o600)
    return token


def processes(*, token: str, ports: Ports = DEFAULT_PORTS, routes: Path = ROUTES) -> list[Proc]:
    """The stack's processes; `routes` must agree with `ports` (tests pass a rewritten copy)."""
    py = str(BIN / "python")
    return [
        Proc("monolith", [str(BIN / "gunicorn"), "monolith.config.wsgi", "-b", f"127.0.0.1:{ports.monolith}",
                          "-k", "gthread", "--threads", "8", "-w", "2", "--access-logfile", "-",
                          # longer than the proxy keeps idle pooled connections (idle_timeout 50 s): the
                          # proxy ends idle connections, so no request races gunicorn's close (default 2 s)
                          "--keep-alive", "75"],
             health=f"http://127.0.0.1:{ports.monolith}/healthz"),
        Proc("worker", [str(BIN / "celery"), "-A", "monolith.config", "worker", "-Q", "monolith",
                        "--pool", "threads", "--concurrency", "4", "-l", "info", "-B",
                        "--schedule", str(VAR / "celerybeat-schedule")]),
        Proc("relay", [py, "manage.py", "relay_outbox", "--loop"]),
        Proc("strangler", [py, "-m", "strangler", "--config", str(routes), "serve"],
             health=f"http://127.0.0.1:{ports.proxy}/healthz",
             env={"STRANGLER_ADMIN_TOKEN": token,
                  "STRANGLER_OVERRIDE_SECRET": os.environ.get("STRANGLER_OVERRIDE_SECRET", token)}),
    ]


def start(procs: list[Proc], env: dict[str, str]) -> None:
    base_env = {**env, "PYTHONUNBUFFERED": "1", "PATH": f"{BIN}:{env.get('PATH', '')}"}
    for proc in procs:
        proc.popen = subprocess.Popen(proc.cmd, cwd=ROOT, env={**base_env, **proc.env})
        print(f"[stack] started {proc.name} (pid {proc.popen.pid})", flush=True)


def wait_all_healthy(procs: list[Proc], seconds: float = 30) -> Proc | None:
    """None when every process with a health URL answers 200; else the first that did not."""
    for proc in procs:
        if proc.health and not wait_healthy(proc.health, seconds):
            return proc
    return None


def stop(procs: list[Proc]) -> None:
    for proc in procs:
        if proc.popen and proc.popen.poll() is None:
            proc.popen.terminate()
    for proc in procs:
        if proc.popen:
            try:
                proc.popen.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.popen.kill()
                proc.popen.wait()


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
  strangler admin   {admin}     token: {token}
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
Mail sent:     ls var/mail/
Ctrl-C stops everything.
"""


def main() -> int:
    VAR.mkdir(exist_ok=True)
    token = admin_token()
    procs = processes(token=token)
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
                                 admin=f"http://127.0.0.1:{ports.admin}", token=token, bin=BIN), flush=True)
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
    sys.exit(main())
