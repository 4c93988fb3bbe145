"""What the deployment files (docker-compose.yml, deploy/k8s/) must agree with, found in the code.

Both deployment tests turn their file into `Process` rows (one per container) and run the checks
below. The expected values are never copied from a deployment file: environment variables come
from the settings modules (AST), listening ports from the real gunicorn and strangler parsers,
queues, WSGI modules, management commands and URL routes from the Django projects themselves,
loaded in a subprocess with the container's environment (`introspect`, so each project gets its
own fresh settings). Images are read from their Dockerfiles. A proxy's flip gate ([contracts]) must
find the pact files and the record on its mounts and the variable naming the providers' version in
its environment.
"""

from __future__ import annotations

import ast
import json
import os
import re
import shlex
import subprocess
import sys
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parents[1]
APP = "/app"  # the Dockerfiles copy repository paths under /app unchanged (test_deploy_compose checks it)
# The extracted services: each is an image, a Django project under extracted/<name>/ (<name>_service),
# a route target and the host the monolith's <NAME>_SERVICE_URL must reach.
SERVICES = ("payments", "catalog")
DJANGO_IMAGES = ("monolith", *SERVICES)
DOCKERFILES = {
    "monolith": ROOT / "deploy" / "docker" / "monolith.Dockerfile",
    **{name: ROOT / "extracted" / name / "Dockerfile" for name in SERVICES},
    "strangler": ROOT / "deploy" / "docker" / "strangler.Dockerfile",
}
# Where each image's processes read their settings (the brief of "runs like production").
SETTINGS_SOURCES = {
    "monolith": ["monolith/config/settings.py", "strangler/django/settings_env.py"],
    **{name: [f"extracted/{name}/{name}_service/settings.py", "strangler/django/settings_env.py"]
       for name in SERVICES},
    # The proxy image runs the kit without its Django side (and without the tests).
    "strangler": sorted(str(p.relative_to(ROOT)) for p in (ROOT / "strangler").rglob("*.py")
                        if p.relative_to(ROOT).parts[1] not in ("tests", "django")),
}
HEALTH_VIEWS = {"strangler.django.health.healthz", "strangler.django.health.readyz"}
# The one library variable a deployment may set: libpq reads the store's password from it when the
# route table's store URL names none (a route table is a file, not a place for a password).
LIBPQ_PASSWORD = "PGPASSWORD"


@dataclass(frozen=True)
class Image:
    name: str
    env: dict[str, str]
    workdir: str
    user: str
    cmd: list[str]
    copies: list[tuple[list[str], str]]  # (sources, absolute destination)


@dataclass(frozen=True)
class Probe:
    kind: str  # healthcheck, readinessProbe, livenessProbe, startupProbe
    command: list[str] = field(default_factory=list)  # exec form; empty for an httpGet probe
    port: int | None = None  # of the HTTP request the probe makes, if any
    path: str | None = None
    host: str | None = None


@dataclass
class Process:
    name: str
    image: Image | None  # None: a third-party image (databases, Redis, Pact Broker)
    command: list[str]
    env: dict[str, str]  # what the deployment file sets (secrets resolved to test values)
    ports: set[int]  # container ports published, exposed or declared
    probes: list[Probe]
    one_shot: bool = False
    files: dict[str, Path] = field(default_factory=dict)  # container path -> repository file or folder

    @property
    def effective_env(self) -> dict[str, str]:
        return {**(self.image.env if self.image else {}), **self.env}


def _instructions(path: Path) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of a Dockerfile, continuation lines joined, comments dropped."""
    lines, joined = [], ""
    for raw in path.read_text().splitlines():
        if raw.strip().startswith("#"):
            continue
        joined += raw.rstrip("\\").rstrip() + " " if raw.endswith("\\") else raw
        if not raw.endswith("\\"):
            if joined.strip():
                word, _, rest = joined.strip().partition(" ")
                lines.append((word.upper(), rest.strip()))
            joined = ""
    return lines


@cache
def image(name: str) -> Image:
    """What an image's Dockerfile sets: ENV, final WORKDIR and USER, CMD, and its COPY steps."""
    env: dict[str, str] = {}
    workdir, user, cmd, copies = "/", "root", [], []
    for word, rest in _instructions(DOCKERFILES[name]):
        if word == "ENV":
            env.update(pair.split("=", 1) for pair in shlex.split(rest))
        elif word == "WORKDIR":
            workdir = os.path.join(workdir, rest)
        elif word == "USER":
            user = rest
        elif word == "CMD":
            cmd = json.loads(rest)
        elif word == "COPY":
            args = [a for a in shlex.split(rest) if not a.startswith("--")]
            copies.append((args[:-1], os.path.join(workdir, args[-1])))
    return Image(name, env, workdir, user, cmd, copies)


def repo_path(container_path: str) -> Path:
    """The repository file or folder a path under /app in one of our images was copied from."""
    assert container_path == APP or container_path.startswith(APP + "/"), container_path
    return ROOT / container_path[len(APP) + 1 :]


# -- what the code reads from the environment ---------------------------------------------------
def _is_environ_get(func: ast.expr) -> bool:
    text = ast.unparse(func)
    return text in {"os.environ.get", "os.getenv", "os.environ.setdefault"}


@cache
def env_reads(image_name: str) -> tuple[frozenset[str], frozenset[str]]:
    """(variables read, variables refused when unset in production) by the image's settings code:
    ``os.environ.get("X", ...)``, ``os.environ["X"]``, helpers wrapping them (``_flag("X", ...)``),
    and ``X`` in ``if not DEBUG and <setting from X> == <default>: raise``."""
    reads: set[str] = set()
    required: set[str] = set()
    for rel in SETTINGS_SOURCES[image_name]:
        tree = ast.parse((ROOT / rel).read_text())
        wrappers = {f.name for f in ast.walk(tree) if isinstance(f, ast.FunctionDef) and any(
            isinstance(c, ast.Call) and _is_environ_get(c.func) and c.args and isinstance(c.args[0], ast.Name)
            for c in ast.walk(f))}
        setting_of: dict[str, str] = {}
        for node in ast.walk(tree):
            name = None
            if isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant):
                wrapped = isinstance(node.func, ast.Name) and node.func.id in wrappers
                if _is_environ_get(node.func) or wrapped:
                    name = node.args[0].value
            elif isinstance(node, ast.Subscript) and ast.unparse(node.value) == "os.environ":
                if isinstance(node.slice, ast.Constant) and not isinstance(node.ctx, ast.Store):
                    name = node.slice.value
                    required.add(name)
            if isinstance(name, str):
                reads.add(name)
            if isinstance(node, ast.Assign) and isinstance(node.value, ast.Call) and node.value.args:
                first = node.value.args[0]
                if _is_environ_get(node.value.func) and isinstance(first, ast.Constant):
                    setting_of.update({t.id: first.value for t in node.targets if isinstance(t, ast.Name)})
        for node in ast.walk(tree):
            if isinstance(node, ast.If) and any(isinstance(s, ast.Raise) for s in node.body):
                names = {n.id for n in ast.walk(node.test) if isinstance(n, ast.Name)}
                if "DEBUG" in names:
                    required.update(setting_of[n] for n in names if n in setting_of)
    return frozenset(reads), frozenset(required)


def _flag_on(value: str | None, default: bool) -> bool:
    return (value if value is not None else ("1" if default else "0")).lower() in {"1", "true", "yes", "on"}


# -- the Django projects, loaded with a container's environment -------------------------------
_INTROSPECT = r"""
import importlib, importlib.util, json, sys, warnings
warnings.simplefilter("ignore")
spec = json.loads(sys.argv[1])
import django
django.setup()
from django.conf import settings
from django.core.management import get_commands
from django.urls import Resolver404, resolve

def view(path):
    try:
        f = resolve(path).func
    except Resolver404:
        return None
    return f"{f.__module__}.{f.__name__}"

def imports(module):
    try:
        return bool(importlib.import_module(module))
    except ImportError:
        return False

def celery_argv(argv):
    from celery.app.utils import find_app
    from celery.bin.base import CLIContext
    from celery.bin.celery import celery as cli
    ctx = cli.make_context("celery", list(argv))
    ctx.obj = CLIContext(app=find_app(ctx.params["app"]), no_color=True, workdir=None, quiet=True)
    name, cmd, rest = cli.resolve_command(ctx, [*ctx.protected_args, *ctx.args])
    params = cmd.make_context(name, rest, parent=ctx).params
    return {"app": ctx.params["app"], "subcommand": name, "queues": params.get("queues"),
            "hostname": params.get("hostname"), "destination": params.get("destination")}

out = {
    "allowed_hosts": settings.ALLOWED_HOSTS,
    "database": {k: settings.DATABASES["default"].get(k) for k in ("ENGINE", "HOST", "PORT", "NAME", "USER")},
    "default_queue": settings.CELERY_TASK_DEFAULT_QUEUE,
    "outbox_routes": settings.OUTBOX_ROUTES,
    "payments_impl": getattr(settings, "PAYMENTS_IMPL", None),
    "store_url": getattr(settings, "STRANGLER_STORE_URL", None),
    "peers": {k: getattr(settings, k) for k in dir(settings) if k.endswith("_SERVICE_URL") or k == "MONOLITH_URL"},
    "commands": sorted(get_commands()),
    "views": {p: view(p) for p in spec["paths"]},
    "imports": {m: imports(m) for m in spec["imports"]},
    "modules": {m: importlib.util.find_spec(m) is not None for m in spec["modules"]},
    "celery": [celery_argv(a) for a in spec["celery"]],
}
print(json.dumps(out))
"""


def runtime_env(proc: Process, scratch: Path) -> dict[str, str]:
    """The container's environment on this machine: /app paths point into the repository and
    VAR_DIR at a scratch folder (the image's is not ours to write here)."""
    env = {"PATH": os.environ.get("PATH", ""), "HOME": str(scratch), "LANG": "C.UTF-8"}
    for key, value in proc.effective_env.items():
        if key == "PYTHONPATH":
            value = ":".join(str(repo_path(p)) for p in value.split(":") if p)
        env[key] = value
    env["VAR_DIR"] = str(scratch / "var")
    return env


def introspect(proc: Process, scratch: Path, *, paths: list[str], imports: list[str], modules: list[str],
               celery: list[list[str]]) -> dict:
    """Facts of the Django project `proc` runs, from its own settings, or {"error": ...}."""
    assert proc.image is not None
    spec = json.dumps({"paths": paths, "imports": imports, "modules": modules, "celery": celery})
    done = subprocess.run([sys.executable, "-c", _INTROSPECT, spec], cwd=repo_path(proc.image.workdir),
                          env=runtime_env(proc, scratch), capture_output=True, text=True, timeout=120)
    if done.returncode != 0:
        return {"error": f"{proc.name}: the project does not load with this environment:\n"
                         f"{done.stderr[-3000:]}"}
    return json.loads(done.stdout.strip().splitlines()[-1])


# -- probes -----------------------------------------------------------------------------------
_URL = re.compile(r"http://127\.0\.0\.1:(\d+)(/[\w/.-]*)")
_HOST = re.compile(r"""['"]Host['"]\s*:\s*['"]([\w.-]+)['"]""")


def exec_probe(kind: str, command: list[str]) -> Probe:
    """A probe that runs a command; when it requests a loopback URL, its port, path and Host."""
    text = " ".join(command)
    url, host = _URL.search(text), _HOST.search(text)
    return Probe(kind, list(command), int(url.group(1)) if url else None, url.group(2) if url else None,
                 host.group(1) if host else None)


def shell_argv(command: list[str]) -> list[str]:
    """The argv of a probe: `sh -c "..."` and compose's CMD-SHELL are split like the shell would."""
    if command[:2] == ["sh", "-c"] or command[:1] == ["CMD-SHELL"]:
        return shlex.split(command[-1].split(">")[0])
    return command[1:] if command[:1] == ["CMD"] else command


def url_parts(url: str) -> tuple[str | None, int | None, str, str | None]:
    """(host, port, database or path, user) of a postgresql:// or http:// URL."""
    parts = urlsplit(url)
    default = {"postgresql": 5432, "postgres": 5432, "http": 80, "redis": 6379}.get(parts.scheme)
    return parts.hostname, parts.port or default, parts.path.strip("/"), parts.username


# -- the checks -------------------------------------------------------------------------------
def is_django(proc: Process) -> bool:
    return proc.image is not None and proc.image.name in DJANGO_IMAGES


def gunicorn_bind(argv: list[str]) -> tuple[str, set[int]]:
    """(WSGI module, ports) as gunicorn's own parser reads the command line."""
    from gunicorn.config import Config

    ns = Config().parser().parse_args(argv[1:])
    return ns.args[0].partition(":")[0], {int(b.rpartition(":")[2]) for b in ns.bind}


def strangler_config(proc: Process):  # -> ProxyConfig
    """The route table the strangler command serves, parsed by the strangler CLI and loader."""
    from strangler.control.cli import _parser, cmd_serve
    from strangler.proxy.config import load_config

    argv = proc.command[2:] if proc.command[:3] == ["python", "-m", "strangler"] else proc.command[1:]
    args = _parser().parse_args(argv)
    assert args.func is cmd_serve, f"{proc.name}: {proc.command} does not serve"
    path = getattr(args, "config", None) or proc.effective_env["STRANGLER_CONFIG"]
    return load_config(proc.files[path], env=proc.effective_env), proc.files[path]


def listening(proc: Process) -> set[int]:
    if proc.image is None or not proc.command:
        return set()
    if Path(proc.command[0]).name == "gunicorn":
        return gunicorn_bind(proc.command)[1]
    if proc.image.name == "strangler":
        config, _ = strangler_config(proc)
        return {config.listen_port, config.admin_port}
    return set()


@dataclass
class Stack:
    processes: list[Process]
    scratch: Path
    endpoint: object  # Callable[[str, int], Process | None]: who answers host:port in the stack
    database_hosts: set[str] | None = None  # the hosts a DATABASE_URL may name, when the stack runs them
    facts: dict[str, dict] = field(default_factory=dict)

    def gather(self) -> None:
        """Load each Django project once per distinct environment and keep its facts per process."""
        groups: dict[tuple, list[Process]] = {}
        for proc in filter(is_django, self.processes):
            groups.setdefault((proc.image.name, tuple(sorted(proc.effective_env.items()))), []).append(proc)
        for n, procs in enumerate(groups.values()):
            argvs = [p.command for p in procs]
            argvs += [shell_argv(pr.command) for p in procs for pr in p.probes if pr.command]
            scratch = self.scratch / f"project-{n}"
            scratch.mkdir(parents=True, exist_ok=True)
            facts = introspect(
                procs[0], scratch, paths=sorted({pr.path for p in procs for pr in p.probes if pr.path}),
                imports=[gunicorn_bind(a)[0] for a in argvs if Path(a[0]).name == "gunicorn"],
                modules=[a[2] for a in argvs if a[:2] == ["python", "-m"]],
                celery=[a[1:] for a in argvs if a[:1] == ["celery"]])
            if "celery" in facts:
                celery = [a for a in argvs if a[:1] == ["celery"]]
                facts["celery"] = {tuple(a[1:]): c for a, c in zip(celery, facts["celery"], strict=True)}
            self.facts.update({p.name: facts for p in procs})


def env_problems(proc: Process) -> list[str]:
    """Every variable set is read by the code; every variable the code requires is set."""
    env = proc.effective_env
    if proc.image.name == "strangler":
        config, _ = strangler_config(proc)
        credentials = {t.credential_secret_env for t in config.table.targets.values()
                       if t.credential_secret_env}
        # app.admin_token and server.ProxyServer refuse to start without these.
        required = {config.admin_token_env, *credentials}
        reads = env_reads("strangler")[0] | required | {config.override_secret_env}
        if config.store_url.startswith("postgres") and not urlsplit(config.store_url).password:
            required.add(LIBPQ_PASSWORD)
            reads |= {LIBPQ_PASSWORD}
        if config.contracts is not None and config.contracts.provider_version_env:
            # flip_gate reads it at each gated flip; empty is allowed (every such flip is refused).
            reads |= {config.contracts.provider_version_env}
    else:
        reads, required = env_reads(proc.image.name)
        if _flag_on(env.get("DEBUG"), True):
            return [f"{proc.name}: DEBUG is on (the settings' default); production images set DEBUG=0"]
    problems = [f"{proc.name}: sets {v}, which no code of the {proc.image.name} image reads"
                for v in sorted(set(proc.env) - reads)]
    return problems + [f"{proc.name}: {v} is required by the code but not set" for v in sorted(required)
                       if not env.get(v)]


def mounted(proc: Process, container_path: str) -> Path | None:
    """The repository file or folder a container path is read from, through the deepest mount
    holding it; None when no mount does."""
    for mount in sorted(proc.files, key=len, reverse=True):
        if container_path == mount or container_path.startswith(mount.rstrip("/") + "/"):
            return proc.files[mount] / os.path.relpath(container_path, mount)
    return None


def contracts_problems(proc: Process, config) -> list[str]:
    """A deployed proxy gates its flips as `make run`'s does: its [contracts] reads pact files and a
    record through mounts, and takes the providers' version from a variable the deployment passes
    (a container has no git work tree, so `source` cannot work there)."""
    from strangler.control.flip_gate import pacts_read

    contracts = config.contracts
    if contracts is None:
        return [f"{proc.name}: the route table has no [contracts]: flips to the service are not gated"]
    problems = []
    if contracts.source is not None:
        problems.append(f"{proc.name}: [contracts] source = {contracts.source!r} needs a git work tree; "
                        "the image has none (use provider_version_env)")
    if contracts.provider_version_env and contracts.provider_version_env not in proc.env:
        problems.append(f"{proc.name}: [contracts] provider_version_env names {contracts.provider_version_env}, "
                        "which the deployment does not pass")
    pacts = mounted(proc, contracts.pacts)
    if pacts is None or not pacts.is_dir():
        problems.append(f"{proc.name}: [contracts] pacts {contracts.pacts} is no mounted folder")
    elif not pacts_read(pacts):
        problems.append(f"{proc.name}: [contracts] pacts {contracts.pacts} holds no pact file ({pacts})")
    if mounted(proc, os.path.dirname(contracts.record)) is None:
        problems.append(f"{proc.name}: [contracts] record {contracts.record} is on no mount")
    return problems


def command_problems(proc: Process, facts: dict, config) -> list[str]:
    argv, tool = proc.command, Path(proc.command[0]).name
    if tool == "gunicorn":
        module = gunicorn_bind(argv)[0]
        return [] if facts["imports"].get(module) else [f"{proc.name}: WSGI module {module} does not import"]
    if tool == "celery":
        subcommand = facts["celery"][tuple(argv[1:])]["subcommand"]
        return [] if subcommand in ("worker", "beat") else [f"{proc.name}: celery {subcommand} is no service"]
    if argv[:2] == ["python", "manage.py"]:
        if not (repo_path(proc.image.workdir) / "manage.py").is_file():
            return [f"{proc.name}: no manage.py in {proc.image.workdir}"]
        return [] if argv[2] in facts["commands"] else [f"{proc.name}: no management command {argv[2]!r}"]
    if argv[:2] == ["python", "-m"] and is_django(proc):
        return [] if facts["modules"].get(argv[2]) else [f"{proc.name}: no module {argv[2]}"]
    if proc.image.name == "strangler":
        _, path = strangler_config(proc)
        done = subprocess.run([sys.executable, "-m", "strangler", "check", str(path)], capture_output=True,
                              text=True, timeout=60, cwd=ROOT)
        return [] if done.returncode == 0 else [f"{proc.name}: strangler check {path}: {done.stderr.strip()}"]
    return [f"{proc.name}: unknown command {argv}"]


def probe_problems(proc: Process, facts: dict, config, ports: set[int]) -> list[str]:
    problems = [] if proc.probes or proc.one_shot else [f"{proc.name}: no health check"]
    worker = facts.get("celery", {}).get(tuple(proc.command[1:])) if proc.command[:1] == ["celery"] else None
    for probe in proc.probes:
        where = f"{proc.name} {probe.kind}"
        argv = shell_argv(probe.command) if probe.command else []
        if argv[:2] == ["python", "-c"]:
            compile(argv[2], where, "exec")
            named = {f"{m}.{n}" for m, n in re.findall(r"from ([\w.]+) import (\w+)", argv[2])
                     if "health" in m}
            problems += [f"{where}: {n} is no health view" for n in named - HEALTH_VIEWS]
            if not named and probe.port is None:
                problems.append(f"{where}: checks neither a health view nor a port")
        elif argv[:1] == ["celery"]:
            ping = facts["celery"][tuple(argv[1:])]
            if not worker or ping["subcommand"] != "inspect" or ping["app"] != worker["app"] or \
                    [d.split("@")[0] for d in ping["destination"]] != [worker["hostname"].split("@")[0]]:
                problems.append(f"{where}: does not ping this worker ({argv})")
        elif argv:
            problems.append(f"{where}: unknown probe command {probe.command}")
        if probe.port is None:
            continue
        if probe.port not in ports:
            problems.append(f"{where}: port {probe.port}, but the process listens on {sorted(ports)}")
        if is_django(proc):
            if facts["views"].get(probe.path) not in HEALTH_VIEWS:
                problems.append(f"{where}: {probe.path} is no health view ({facts['views'].get(probe.path)})")
            if probe.host not in facts["allowed_hosts"]:
                problems.append(f"{where}: Host {probe.host} not in ALLOWED_HOSTS {facts['allowed_hosts']}")
        elif config is not None and (probe.port, probe.path) != (config.admin_port, "/healthz"):
            problems.append(f"{where}: expected the admin API's /healthz on {config.admin_port}")
    return problems


def process_problems(stack: Stack, proc: Process) -> list[str]:
    if proc.image is None:  # a third-party image: it must at least be health-checked
        return [] if proc.probes or proc.one_shot else [f"{proc.name}: no health check"]
    facts = stack.facts.get(proc.name, {})
    if "error" in facts:
        return env_problems(proc) + [facts["error"]]
    problems = [] if proc.image.user not in ("", "root", "0") else [f"{proc.name}: image runs as root"]
    config = strangler_config(proc)[0] if proc.image.name == "strangler" else None
    ports = listening(proc)
    if proc.ports != ports:
        problems.append(f"{proc.name}: declares ports {sorted(proc.ports)}, listens on {sorted(ports)}")
    if config is not None:
        problems += contracts_problems(proc, config)
    return (problems + command_problems(proc, facts, config) + env_problems(proc)
            + probe_problems(proc, facts, config, ports))


def stack_problems(stack: Stack) -> list[str]:
    """What only the stack as a whole can get wrong: queues nobody consumes, a shared database, the
    monolith following another route store than the proxy's, targets that reach the wrong process."""
    problems: list[str] = []
    django = [p for p in stack.processes if is_django(p) and "error" not in stack.facts.get(p.name, {})]
    routed, consumed = set(), set()
    databases: dict[str, set[tuple]] = {}
    for proc in django:
        facts = stack.facts[proc.name]
        routed |= {facts["default_queue"], *(q for qs in facts["outbox_routes"].values() for q in qs)}
        worker = facts["celery"].get(tuple(proc.command[1:])) if proc.command[:1] == ["celery"] else None
        if worker and worker["subcommand"] == "worker":
            consumed |= set(worker["queues"])
        db = facts["database"]
        databases.setdefault(proc.image.name, set()).add((db["ENGINE"], db["HOST"], db["PORT"], db["NAME"]))
    if routed != consumed:
        problems.append(f"queues routed to {sorted(routed)} but consumed {sorted(consumed)}")
    for name, dbs in databases.items():
        if len(dbs) != 1:
            problems.append(f"the {name} processes use different databases: {sorted(dbs)}")
        elif not next(iter(dbs))[0].endswith("postgresql"):
            problems.append(f"{name}: database engine {next(iter(dbs))[0]}, expected PostgreSQL")
        elif stack.database_hosts is not None and next(iter(dbs))[1] not in stack.database_hosts:
            problems.append(f"{name}: database host {next(iter(dbs))[1]} is no database of the stack")
    shared = [db for db in {d for dbs in databases.values() for d in dbs}
              if sum(db in dbs for dbs in databases.values()) > 1]
    problems += [f"database {db[1:]} shared between projects" for db in shared]
    proxies = [p for p in stack.processes if p.image is not None and p.image.name == "strangler"]
    for proxy in proxies:
        config, _ = strangler_config(proxy)
        store = url_parts(config.store_url)
        for proc in django:
            facts = stack.facts[proc.name]
            if facts["payments_impl"] == "follow" and url_parts(facts["store_url"] or "") != store:
                problems.append(f"{proc.name} follows store {facts['store_url']!r}, "
                                f"the proxy uses {config.store_url!r}")
        for name, target in config.table.targets.items():
            where = f"{proxy.name} target {name}"
            problems += _endpoint_problems(stack, where, target.host, target.port, name)
    for proc in django:
        for key, url in stack.facts[proc.name]["peers"].items():
            host, port, _, _ = url_parts(url)
            want = key.removesuffix("_SERVICE_URL").lower() if key != "MONOLITH_URL" else "monolith"
            problems += _endpoint_problems(stack, f"{proc.name} {key}", host, port, want)
    return problems


def _endpoint_problems(stack: Stack, where: str, host: str | None, port: int | None,
                       image_name: str) -> list[str]:
    answer = stack.endpoint(host, port)
    if answer is None:
        return [f"{where}: nothing in the stack answers {host}:{port}"]
    if answer.image is None or answer.image.name != image_name or Path(answer.command[0]).name != "gunicorn":
        return [f"{where}: {host}:{port} reaches {answer.name}, not the {image_name} web process"]
    return []
