"""The names and values one service's templates are filled with, from what the monolith says about
the context (strangler.django.scaffold.context) and its settings."""

from __future__ import annotations

import os
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from django.conf import settings

import strangler
from strangler.django.scaffold.context import ContextInfo, ModelInfo, UrlMount
from strangler.django.scaffold.render import fragment_render

DEFAULT_PORT = 8080  # the service's port in its container, and the runserver port the README shows
# A real Redis for the generated test's /readyz (the broker must answer); SERVICE_TEST_BROKER_URL overrides.
TEST_BROKER_URL = "redis://127.0.0.1:6379/0"
REVISION_FIELD = "revision"  # the engine's upsert replaces a held row only by a higher revision
# The generated service's pinned dependencies: pinned to the versions installed where the command runs.
SERVICE_REQUIREMENTS = ("Django", "djangorestframework", "drf-spectacular", "celery[redis]", "kombu", "redis",
                        "psycopg[binary]", "dj-database-url", "gunicorn", "requests")
KIT_REQUIREMENT = "strangler-kit[django]"
SECRETS = (  # environment variable -> key of the service's Kubernetes Secret
    ("SECRET_KEY", "secret-key"),
    ("INTERNAL_AUTH_SECRET", "internal-auth-secret"),
    ("DATABASE_URL", "database-url"),
    ("CELERY_BROKER_URL", "celery-broker-url"),
)
INDENT = " " * 4


@dataclass(frozen=True)
class ServicePlan:
    context: ContextInfo
    out: Path
    port: int

    @property
    def target(self) -> str:
        """The service's name in the route table, compose and Kubernetes: ``order_lines`` -> ``order-lines``."""
        return self.context.label.lower().replace("_", "-")

    @property
    def package(self) -> str:
        return f"{self.context.label}_service"

    @property
    def service(self) -> str:
        """Its name for internal credentials (caller and audience) and tracing."""
        return f"{self.target}-service"

    @property
    def public_prefixes(self) -> list[str]:
        """Where the monolith mounts the context's public URL modules, else ``/api/v1/<label>``."""
        prefixes = [m.prefix for m in self.context.public_mounts] or [f"api/v1/{self.context.label}/"]
        return list(dict.fromkeys("/" + p.rstrip("/") for p in prefixes))

    def route_entries(self) -> str:
        """One ``[[routes]]`` entry per public prefix: the first named after the target, the others numbered."""
        return "".join(fragment_render("route.toml", {
            "route_name": self.target if n == 1 else f"{self.target}-{n}", "route_prefix": prefix,
            "target": self.target}) for n, prefix in enumerate(self.public_prefixes, start=1))

    @property
    def sync_prefix(self) -> str:
        return f"internal/v1/{self.context.label}/sync/"

    def spec_model(self) -> tuple[ModelInfo, str]:
        """(the synced model, why it was chosen): the first one with a revision column, else the first one."""
        models = self.context.models
        for model in models:
            if REVISION_FIELD in model.attnames:
                return model, f"the first of the context's models with a {REVISION_FIELD!r} column."
        return models[0], f"the first of the context's models (none has a {REVISION_FIELD!r} column)."

    def variables(self) -> dict[str, str]:
        model, reason = self.spec_model()
        label = self.context.label
        return {
            "label": label,
            "title": f"The {label} service",  # at the start of a sentence
            "name": f"the {label} service",
            "module": self.context.module,
            "module_path": self.context.module.replace(".", "/"),
            "top_package": self.context.top_package,
            "package": self.package,
            "service": self.service,
            "target": self.target,
            "queue": label,
            "port": str(self.port),
            "db_name": label,
            "env_prefix": label.upper(),
            "const_prefix": label.upper(),
            "origin_setting": f"{label.upper()}_ORIGIN",
            "monolith_caller": getattr(settings, "INTERNAL_AUTH_CALLER", "monolith"),
            "monolith_queue": getattr(settings, "CELERY_TASK_DEFAULT_QUEUE", "celery"),
            "source_path": _relative(self.context.source_root, self.out.resolve()),
            "service_path": _relative(self.out.resolve(), self.context.source_root),
            "public_prefix": ", ".join(self.public_prefixes),
            "route_entries": self.route_entries(),
            "sync_prefix": self.sync_prefix,
            "test_broker": TEST_BROKER_URL,
            "installed_apps": _lines(f'"{app}",' for app in (*self.context.app_dependencies, self.context.installed_as)),
            "url_includes": _lines(_include(m) for m in self.context.mounts),
            "route_list": ", ".join(f"`/{m.prefix}`" for m in self.context.mounts) or "none mounted in the monolith",
            "dependencies": _lines(f'"{r}",' for r in _requirements()),
            "kit_install": self._kit_install(),
            "source_copies": "\n".join(f"COPY {p} {p}" for p in self.context.source_packages),
            "k8s_secret_env": _k8s_secret_env(self.target),
            "models_listing": _lines(f'"{m.label}": {_tuple(m.attnames)},' for m in self.context.models),
            "spec_model": model.label,
            "spec_reason": reason,
            "spec_id": model.pk,
            "spec_kind": model.kind,
            "spec_compared": _tuple(f.attname for f in model.fields
                                    if not f.bookkeeping and f.attname != REVISION_FIELD),
            "spec_notes": spec_notes(model),
            "spec_todo": spec_notes(model).strip().replace("\n", " ") or "The spec needs nothing more.",
        }

    def _kit_install(self) -> str:
        """The kit in the image: copied when its package is in the build context (its own repository), else installed."""
        kit_root = Path(strangler.__file__).resolve().parent.parent
        if kit_root == self.context.source_root:
            return "# The kit's package comes from the build context (the kit's own repository).\nCOPY strangler /app/strangler"
        return ('# The kit: from your index, or a wheel or VCS URL (the same install line as the monolith\'s).\n'
                f'ARG STRANGLER_KIT="{KIT_REQUIREMENT}"\nRUN pip install "$STRANGLER_KIT"')


def _relative(path: Path, start: Path) -> str:
    return Path(os.path.relpath(path, start)).as_posix()


def _lines(items) -> str:
    return "\n".join(INDENT + item for item in items)


def _tuple(names) -> str:
    names = list(names)
    return "(" + ", ".join(f'"{n}"' for n in names) + ("," if len(names) == 1 else "") + ")"


def _include(mount: UrlMount) -> str:
    return f'path("{mount.prefix}", include("{mount.module}")),'


def _requirements() -> list[str]:
    pinned = [KIT_REQUIREMENT]
    for requirement in SERVICE_REQUIREMENTS:
        name = requirement.split("[", 1)[0]
        try:
            pinned.append(f"{requirement}=={metadata.version(name)}")
        except metadata.PackageNotFoundError:
            pinned.append(requirement)
    return pinned


def _k8s_secret_env(target: str) -> str:
    lines = ["env:"]
    for variable, key in SECRETS:
        lines += [f"  - name: {variable}", f"    valueFrom: {{secretKeyRef: {{name: {target}, key: {key}}}}}"]
    return "\n".join(" " * 10 + line for line in lines)


def spec_notes(model: ModelInfo) -> str:
    """What the spec cannot do on its own yet: a missing revision column, columns the engine has no check for."""
    notes = []
    if REVISION_FIELD not in model.attnames:
        notes.append(f"{model.label} has no {REVISION_FIELD!r} column, and the engine replaces a held row only by a\n"
                     f"higher revision: add ``{REVISION_FIELD} = models.PositiveIntegerField(default=1)`` (bumped on each\n"
                     f"write) and its migration, and add it to MODELS[MODEL] in extraction.py, before the first backfill.")
    unchecked = [f"{f.attname} ({f.kind})" for f in model.fields if not f.checked]
    if unchecked:
        notes.append("The engine has no check for incoming values of " + ", ".join(unchecked) + ":\n"
                     "give the SPEC in extraction.py a ``shape=RowShape(model=MODEL, fields=FIELDS, overrides={...})`` with one\n"
                     "(strangler.django.extraction.rows).")
    return "".join(f"\n{note}\n" for note in notes)
