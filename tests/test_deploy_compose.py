"""docker-compose.yml and the images it builds.

Debian's docker-compose (1.29) must accept the file with every secret set and refuse it, naming the
variable, with any one unset; what it resolves must agree with the code (tests/deploy_consistency.py)
and mirror `make run` (deploy/local/stack.py). There is no Docker engine here, so the Dockerfiles are
checked as text and by running their dependency step: non-root, no secret in ENV, every COPY source
sent by .dockerignore, every installed distribution pinned by constraints.txt.
"""

from __future__ import annotations

import importlib.util
import os
import re
import shlex
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from tests.deploy_consistency import (
    DOCKERFILES,
    ROOT,
    Process,
    Stack,
    exec_probe,
    image,
    listening,
    process_problems,
    stack_problems,
)

# db_independent: the compose file, its images and a PostgreSQL URL of its own; the PostgreSQL pass skips it.
pytestmark = pytest.mark.db_independent

COMPOSE = Path("/usr/bin/docker-compose")
COMPOSE_FILE = ROOT / "docker-compose.yml"
REQUIRED = sorted(set(re.findall(r"\$\{(\w+):\?", COMPOSE_FILE.read_text())))
SECRET_NAME = re.compile(r"SECRET|TOKEN|PASSWORD|PASSWD|CREDENTIAL|_KEY$")
IMAGE_OF = {str(path.relative_to(ROOT)): name for name, path in DOCKERFILES.items()}


def compose(tmp_path: Path, env: dict[str, str], *args: str,
            env_file: Path | None = None) -> subprocess.CompletedProcess:
    if not COMPOSE.exists():
        pytest.fail("docker-compose is not installed: run `apt-get install -y docker-compose` "
                    "(Debian's 1.29; .ci/run installs it)")
    if env_file is None:  # a developer's .env must not change what is tested
        env_file = tmp_path / "empty.env"
        env_file.write_text("")
    return subprocess.run([str(COMPOSE), "--env-file", str(env_file), "-f", str(COMPOSE_FILE), *args],
                          cwd=ROOT, env={"PATH": os.environ.get("PATH", ""), **env},
                          capture_output=True, text=True, timeout=120)


def secrets_env() -> dict[str, str]:
    """A distinct hex value per required variable (hex: valid inside the postgresql:// URLs)."""
    return {name: f"{n:02d}" + "ab" * 16 for n, name in enumerate(REQUIRED)}


@pytest.fixture(scope="module")
def resolved(tmp_path_factory: pytest.TempPathFactory) -> dict:
    done = compose(tmp_path_factory.mktemp("compose"), secrets_env(), "--profile", "contracts", "--profile",
                   "demo", "config")
    assert done.returncode == 0, done.stderr
    return yaml.safe_load(done.stdout)


def test_config_is_accepted_with_the_secrets_set(resolved: dict) -> None:
    assert REQUIRED, "the compose file demands no secret"
    expected = {"strangler", "monolith", "monolith-worker", "monolith-beat", "monolith-relay", "monolith-migrate",
                "payments", "payments-worker", "payments-beat", "payments-relay", "payments-migrate", "monolith-db", "payments-db",
                "catalog", "catalog-worker", "catalog-beat", "catalog-relay", "catalog-migrate", "catalog-db",
                "strangler-db", "redis", "pact-broker", "pact-broker-db"}
    assert expected <= set(resolved["services"])


def test_env_example_names_every_variable_it_needs(tmp_path: Path) -> None:
    """`cp .env.example .env` is the documented start: it must hold every required variable."""
    example = ROOT / ".env.example"
    lines = [line for line in example.read_text().splitlines() if "=" in line and line[0] != "#"]
    keys = {line.split("=", 1)[0] for line in lines}
    assert set(REQUIRED) <= keys
    done = compose(tmp_path, {}, "config", "-q", env_file=example)
    assert done.returncode == 0, done.stderr


@pytest.mark.parametrize("variable", REQUIRED)
def test_config_fails_naming_an_unset_secret(tmp_path: Path, variable: str) -> None:
    env = secrets_env()
    del env[variable]
    done = compose(tmp_path, env, "config")
    assert done.returncode != 0
    # compose ends with the `:?` message, which names the variable and where to find it
    assert done.stderr.rstrip().endswith(f"set {variable} (see .env.example)"), done.stderr


def test_no_secret_has_a_default(resolved: dict) -> None:
    """Every secret-looking setting holds one of the required values (or is empty: disabled)."""
    ours = set(secrets_env().values())
    for name, service in resolved["services"].items():
        for key, value in (service.get("environment") or {}).items():
            if SECRET_NAME.search(key) and "USERNAME" not in key:
                assert value == "" or value in ours, f"{name}: {key} has a default"
            if "://" in str(value) and "@" in str(value):
                assert any(v in value for v in ours), f"{name}: {key} embeds a default password"


def test_redis_keeps_queued_events_and_pact_broker_is_a_profile(resolved: dict) -> None:
    services = resolved["services"]
    command = services["redis"]["command"]
    assert command[command.index("--appendonly") + 1] == "yes"
    assert any(v.endswith(":/data:rw") or v.endswith(":/data") for v in services["redis"]["volumes"])
    broker = services["pact-broker"]
    assert broker["image"].startswith("pactfoundation/pact-broker:") and broker["profiles"] == ["contracts"]
    assert "@pact-broker-db:" in broker["environment"]["PACT_BROKER_DATABASE_URL"]
    assert services["pact-broker-db"]["profiles"] == ["contracts"]
    for name in ("monolith-db", "payments-db", "catalog-db", "strangler-db", "pact-broker-db"):
        assert services[name]["image"].startswith("postgres:")


def _container_ports(service: dict) -> set[int]:
    ports = {int(str(p).split("/")[0]) for p in service.get("expose", [])}
    for port in service.get("ports", []):
        target = port["target"] if isinstance(port, dict) else str(port).split("/")[0].rsplit(":", 1)[-1]
        ports.add(int(target))
    return ports


def _processes(resolved: dict) -> list[Process]:
    procs = []
    for name, service in resolved["services"].items():
        dockerfile = (service.get("build") or {}).get("dockerfile")
        img = image(IMAGE_OF[dockerfile]) if dockerfile else None
        test = (service.get("healthcheck") or {}).get("test") or []
        files = {}
        for volume in service.get("volumes", []):
            source, _, rest = volume.partition(":")
            if source.startswith("/"):
                files[rest.split(":")[0]] = Path(source)
        procs.append(Process(
            name=name, image=img, command=service.get("command") or (img.cmd if img else []),
            env={k: str(v) for k, v in (service.get("environment") or {}).items()},
            ports=_container_ports(service),
            probes=[] if test in ([], ["NONE"]) else [exec_probe("healthcheck", test)],
            one_shot=service.get("restart") == "no", files=files))
    return procs


def test_every_container_agrees_with_the_code(resolved: dict, tmp_path: Path) -> None:
    procs = _processes(resolved)
    by_name = {p.name: p for p in procs}

    def endpoint(host: str, port: int) -> Process | None:  # a service's DNS name is its compose name
        proc = by_name.get(host)
        return proc if proc is not None and port in listening(proc) else None

    stack = Stack(procs, tmp_path, endpoint=endpoint, database_hosts={"monolith-db", "payments-db", "catalog-db"})
    stack.gather()
    problems = [p for proc in procs for p in process_problems(stack, proc)] + stack_problems(stack)
    assert problems == []
    assert {p.name for p in procs if p.one_shot} == {"monolith-migrate", "payments-migrate", "catalog-migrate",
                                                     "monolith-seed"}


def test_mirrors_the_local_stack(resolved: dict, tmp_path: Path) -> None:
    """Same processes, arguments and settings as `make run`, with container hosts and paths."""
    if "stack" not in sys.modules:  # the name tests/cutover_support.py loads it under
        spec = importlib.util.spec_from_file_location("stack", ROOT / "deploy" / "local" / "stack.py")
        sys.modules["stack"] = importlib.util.module_from_spec(spec)  # dataclasses look their module up
        spec.loader.exec_module(sys.modules["stack"])  # type: ignore[union-attr]
    local = sys.modules["stack"]
    services = {p.name: p for p in _processes(resolved)}
    names = {"worker": "monolith-worker", "beat": "monolith-beat", "relay": "monolith-relay"}
    host_specific = {"VAR_DIR", "CELERY_BROKER_URL", "STRANGLER_STORE_URL", "PAYMENTS_SERVICE_URL",
                     "CATALOG_SERVICE_URL", "MONOLITH_URL"}
    # The embedded broker hands a killed worker's messages out again after 90 s; the compose Redis
    # keeps Celery's hour.
    local_only = {"CELERY_VISIBILITY_TIMEOUT"}
    secrets = secrets_env()
    token, secret = secrets["STRANGLER_ADMIN_TOKEN"], secrets["INTERNAL_AUTH_SECRET"]
    for proc in local.processes(token=token, secret=secret, var=tmp_path):
        if proc.name == "broker":  # the compose file runs its own Redis service
            assert "redis" in services
            continue
        service = services[names.get(proc.name, proc.name)]
        if service.image.name == "strangler":
            assert set(proc.env) <= set(service.env)
            continue
        assert _shape(service.command) == _shape([Path(proc.cmd[0]).name, *proc.cmd[1:]]), proc.name
        for key, value in proc.env.items():
            if key in host_specific:
                assert key in service.effective_env, f"{service.name}: {key}"
            elif key not in local_only:
                assert service.effective_env.get(key) == value, f"{service.name}: {key}"


def _shape(argv: list[str]) -> list[str]:
    """A command without what differs by design: the python binary's path, the bind host, file
    locations (--schedule) and gunicorn's tmp dir (/dev/shm in containers)."""
    out = ["python" if "python" in argv[0] else argv[0]]
    args = iter(argv[1:])
    for arg in args:
        if arg in ("--schedule", "--worker-tmp-dir"):
            next(args)
        elif arg == "-b":
            out += [arg, next(args).rsplit(":", 1)[1]]
        else:
            out.append(arg)
    return out


# -- the Dockerfiles --------------------------------------------------------------------------
def _ignored(path: str) -> bool:
    """.dockerignore semantics for the patterns it uses: `**` any depth, a match covers a folder."""
    lines = (ROOT / ".dockerignore").read_text().splitlines()
    patterns = [p.strip() for p in lines if p.strip()[:1] not in ("", "#")]
    for pattern in patterns:
        regex = re.escape(pattern).replace(r"\*\*/", "(?:.*/)?")
        regex = regex.replace(r"\*", "[^/]*").replace(r"\?", "[^/]")
        parts = path.split("/")
        if any(re.fullmatch(regex, "/".join(parts[:n])) for n in range(1, len(parts) + 1)):
            return True
    return False


@pytest.mark.parametrize("name", sorted(DOCKERFILES))
def test_dockerfile_runs_as_non_root_without_secrets(name: str) -> None:
    img = image(name)
    assert img.user not in ("", "root", "0")
    assert not [k for k in img.env if SECRET_NAME.search(k)], img.env
    text = DOCKERFILES[name].read_text()
    assert not re.search(r"^\s*ARG\s+\w*(SECRET|TOKEN|PASSWORD)", text, re.M | re.I)
    assert text.startswith("#") and "FROM python:3.11-slim" in text


@pytest.mark.parametrize("name", sorted(DOCKERFILES))
def test_dockerfile_copies_only_what_the_context_sends(name: str) -> None:
    for sources, dest in image(name).copies:
        for source in sources:
            assert (ROOT / source).exists(), source
            assert not _ignored(source), f"{source} is excluded by .dockerignore"
            if dest.startswith("/app/"):  # deploy_consistency.repo_path maps /app/X to the repository's X
                kept = dest.rstrip("/") if not dest.endswith("/") else dest + Path(source).name
                assert kept == f"/app/{source}", (source, dest)
    for path in (".env", ".venv/bin/python", "var/strangler.db", "monolith/users/tests", ".git"):
        assert _ignored(path), path


@pytest.mark.parametrize("name", sorted(DOCKERFILES))
def test_dockerfile_installs_only_pinned_versions(name: str, tmp_path: Path) -> None:
    """Run the image's own requirement step here, then check that every distribution it pulls in
    (the closure, from this virtualenv's metadata) has its pin in constraints.txt."""
    text = DOCKERFILES[name].read_text().replace("\\\n", " ")
    step = re.search(r"RUN (python -c .*?) > /tmp/requirements\.txt", text).group(1)
    # /tmp/pyproject.toml is the root's; /tmp/<service>-pyproject.toml an extracted service's
    for path in re.findall(r"/tmp/([\w-]*)pyproject\.toml", step):
        source = ROOT / "extracted" / path.removesuffix("-") if path else ROOT
        (tmp_path / f"{path}pyproject.toml").write_text((source / "pyproject.toml").read_text())
        step = step.replace(f"/tmp/{path}pyproject.toml", str(tmp_path / f"{path}pyproject.toml"))
    argv = shlex.split(step.replace("$EXTRAS", re.search(r'ARG EXTRAS="([\w,]+)"', text).group(1)
                                    if "$EXTRAS" in step else ""))
    done = subprocess.run([sys.executable, *argv[1:]], capture_output=True, text=True, check=True, timeout=60)
    direct = [Requirement(line) for line in done.stdout.split() if line]
    assert direct and all(str(r.specifier).startswith("==") for r in direct), direct
    constraints = (ROOT / "constraints.txt").read_text().split()
    pinned = {canonicalize_name(line.split("==")[0]) for line in constraints if "==" in line}
    todo, seen = list(direct), set()
    while todo:
        req = todo.pop()
        key = (canonicalize_name(req.name), frozenset(req.extras))
        if key in seen:
            continue
        seen.add(key)
        for sub in metadata.requires(req.name) or []:
            dep = Requirement(sub)
            if not dep.marker or any(dep.marker.evaluate({"extra": e}) for e in (req.extras or {""})):
                todo.append(dep)
    missing = sorted({name for name, _ in seen} - pinned)
    assert not missing, f"the {name} image installs, unpinned by constraints.txt: {', '.join(missing)}"


# -- the health checks, run against live processes ---------------------------------------------
def _run_check(test: list[str], port: tuple[int, int], env: dict[str, str], cwd: Path) -> int:
    """A compose health check's command with its loopback port moved to a free one (the container's
    port may be taken on this machine); everything else runs as written."""
    argv = [a.replace(f"127.0.0.1:{port[0]}/", f"127.0.0.1:{port[1]}/") for a in test[1:]]
    argv[0] = sys.executable if argv[0] == "python" else argv[0]
    return subprocess.run(argv, env=env, cwd=cwd, capture_output=True, timeout=60).returncode


def test_strangler_health_check_answers_only_with_the_admin_token(resolved: dict, tmp_path: Path) -> None:
    import tomllib

    from strangler.testing import free_ports

    ports = free_ports(2)
    table = (ROOT / "deploy" / "compose" / "routes.toml").read_text()
    admin_port = int(tomllib.loads(table)["admin"]["listen"].rsplit(":", 1)[1])
    routes = tmp_path / "routes.toml"  # the compose table on loopback, with a SQLite store
    routes.write_text(re.sub(r'(?m)^(listen = )"0\.0\.0\.0:(\d+)"', lambda m: f'{m.group(1)}"127.0.0.1:'
                             f'{ports[0] if m.group(2) != str(admin_port) else ports[1]}"', table)
                      .replace('redis_url = "redis://redis:6379/1"', "")
                      .replace("postgresql://strangler@strangler-db:5432/strangler", f"sqlite:///{tmp_path}/s.db"))
    env = {"PATH": os.environ.get("PATH", ""), **resolved["services"]["strangler"]["environment"]}
    proxy = subprocess.Popen([sys.executable, "-m", "strangler", "--config", str(routes), "serve"], env=env,
                             stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        assert "strangler ready" in proxy.stdout.readline()
        test = resolved["services"]["strangler"]["healthcheck"]["test"]
        assert _run_check(test, (admin_port, ports[1]), env, tmp_path) == 0
        wrong = {**env, "STRANGLER_ADMIN_TOKEN": "wrong"}
        assert _run_check(test, (admin_port, ports[1]), wrong, tmp_path) != 0
    finally:
        proxy.terminate()
        proxy.wait(timeout=10)
    assert _run_check(test, (admin_port, ports[1]), env, tmp_path) != 0


@pytest.mark.parametrize("service", ["monolith-relay", "payments-relay", "catalog-relay"])
def test_relay_health_check_follows_database_and_broker(resolved: dict, service: str, tmp_path: Path) -> None:
    """The kernel's readiness checks, run as the health check does, against the loopback
    PostgreSQL and Redis; then with the broker unreachable."""
    from tests.deploy_consistency import repo_path, runtime_env

    proc = next(p for p in _processes(resolved) if p.name == service)
    cwd = repo_path(proc.image.workdir)
    test = resolved["services"][service]["healthcheck"]["test"]
    live = {**runtime_env(proc, tmp_path), "DATABASE_URL": "postgresql://postgres@127.0.0.1:5432/postgres",
            "CELERY_BROKER_URL": "redis://127.0.0.1:6379/15"}
    assert _run_check(test, (0, 0), live, cwd) == 0, "needs PostgreSQL and Redis on 127.0.0.1 (.ci/run)"
    assert _run_check(test, (0, 0), {**live, "CELERY_BROKER_URL": "redis://127.0.0.1:1/15"}, cwd) != 0
