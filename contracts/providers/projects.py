"""The two Django projects that implement a service's providers, and how to run either against a
scratch database.

The same pacts are verified against both: the monolith (its own context) and the extracted service
(e.g. ``payments_service``, which installs the same context as a library; where each service's
project is: contracts/providers/described.py). Each project here is taken from a repository root
given at run time, so a patched copy of the tree can be verified as well as the checkout itself.
"""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
from pathlib import Path

from contracts.participants import MONOLITH, SERVICE

# Environment a developer's shell or CI may carry that must not reach a provider under verification.
_SCRUBBED = frozenset({
    "DJANGO_SETTINGS_MODULE", "DATABASE_URL", "CELERY_BROKER_URL", "REDIS_URL", "VAR_DIR",
    "MONOLITH_URL", "INTERNAL_AUTH_SECRET", "SECRET_KEY", "DEBUG", "OUTBOX_QUEUES", "PAYMENTS_SYNC_QUEUES",
    "PAYMENTS_IMPL", "PAYMENTS_PROCESSOR", "PAYMENTS_SERVICE_URL", "STRANGLER_STORE_URL", "EMAIL_BACKEND",
    "CATALOG_IMPL", "CATALOG_SERVICE_URL", "CATALOG_ORIGIN",
    "CELERY_TASK_ALWAYS_EAGER", "CELERY_QUEUE", "PYTHONPATH", "LOG_LEVEL",
})


@dataclasses.dataclass(frozen=True, slots=True)
class Project:
    name: str
    root: Path  # the repository root the code comes from
    cwd: Path  # where manage.py is
    settings: str
    wsgi: str

    @property
    def pythonpath(self) -> list[Path]:
        """First on sys.path, so this tree's packages win over any installed copy."""
        return [self.cwd, self.root] if self.cwd != self.root else [self.root]

    def env(self, *, var_dir: Path, secret: str, **extra: str) -> dict[str, str]:
        """The process environment of this project on its own SQLite file under ``var_dir``."""
        base = {k: v for k, v in os.environ.items() if k not in _SCRUBBED}
        return base | {
            "DJANGO_SETTINGS_MODULE": self.settings,
            "PYTHONPATH": os.pathsep.join(str(p) for p in self.pythonpath),
            "DATABASE_URL": f"sqlite:///{var_dir / f'{self.name}.sqlite3'}",
            "VAR_DIR": str(var_dir / self.name),
            "DEBUG": "1",
            "INTERNAL_AUTH_SECRET": secret,
            "PAYMENTS_IMPL": "local",
            "PAYMENTS_PROCESSOR": "fake",
            "CATALOG_IMPL": "local",
            "EMAIL_BACKEND": "django.core.mail.backends.locmem.EmailBackend",
            "LOG_LEVEL": "WARNING",
            "PYTHONUNBUFFERED": "1",
            "PACT_DO_NOT_TRACK": "true",
        } | extra

    def migrate(self, env: dict[str, str]) -> subprocess.Popen[str]:
        """``manage.py migrate`` in a child process; the caller waits for it (see ``finished``)."""
        return subprocess.Popen([sys.executable, "manage.py", "migrate", "--noinput", "-v0"], cwd=self.cwd,
                                env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


@dataclasses.dataclass(frozen=True, slots=True)
class ServiceProject:
    """Where an extracted service's Django project is in a repository."""

    name: str  # its internal credentials' name (the audience the verifier mints for) and its log's
    folder: str  # where its manage.py is, relative to the repository root
    settings: str
    wsgi: str


def monolith_project(root: Path) -> Project:
    return Project(name="monolith", root=root, cwd=root, settings="monolith.config.settings",
                   wsgi="monolith.config.wsgi")


def project(against: str, root: Path, service: ServiceProject) -> Project:
    """The project that serves ``against``: the monolith, or ``service``'s own."""
    if against == MONOLITH:
        return monolith_project(root)
    if against == SERVICE:
        return Project(name=service.name, root=root, cwd=root / service.folder, settings=service.settings,
                       wsgi=service.wsgi)
    raise ValueError(f"unknown implementation {against!r}")


def finished(proc: subprocess.Popen[str], what: str, timeout: float = 120) -> None:
    out, _ = proc.communicate(timeout=timeout)
    if proc.returncode != 0:
        raise RuntimeError(f"{what} failed ({proc.returncode}):\n{out}")


def django_configure(project: Project, env: dict[str, str]) -> None:
    """Make this process a process of ``project`` (settings, database, code from its root), so the
    provider states and messages run the provider's own services. Once per process."""
    import django

    for path in reversed(project.pythonpath):
        sys.path.insert(0, str(path))
    # Celery's Django fix-up puts the working directory first on sys.path when the project's Celery
    # app is built: it must be this project's, or a checkout's packages shadow the tree verified.
    os.chdir(project.cwd)
    for name in _SCRUBBED:
        os.environ.pop(name, None)
    os.environ.update(env)
    django.setup()
