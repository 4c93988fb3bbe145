"""What the monolith says about one bounded context, read from Django itself: the installed app
(its module and where its source lives), its models and their fields (the app registry), the URL
prefixes the root URLconf mounts its modules under, and the apps its migrations depend on."""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from pathlib import Path

from django.apps import AppConfig, apps
from django.core.exceptions import ImproperlyConfigured
from django.db import models
from django.db.migrations.loader import MigrationLoader
from django.urls import URLResolver, get_resolver

from strangler.django.extraction.rows import field_check

# The apps every generated service installs itself (templates/service/package/settings.py), by
# label; a context's migrations that depend on one of these need nothing more.
SERVICE_BASE_APPS = frozenset({"contenttypes", "auth", "strangler_outbox", "strangler_idempotency",
                               "strangler_extraction"})
INTERNAL_PREFIX = "internal/"  # mounts under it are service to service, not public routes


@dataclass(frozen=True)
class FieldInfo:
    attname: str  # the row's column name: a foreign key's is "<name>_id"
    bookkeeping: bool  # set by the database or on save (auto_now, auto_now_add): left out of reconcile
    kind: str  # the model field's internal type, e.g. "DecimalField"
    checked: bool  # the engine knows how to check incoming values (strangler.django.extraction.rows)


@dataclass(frozen=True)
class ModelInfo:
    label: str  # "app_label.ModelName"
    name: str
    pk: str
    kind: str  # its rows' key in a sync batch: the model's plural name, e.g. "stock_levels"
    fields: tuple[FieldInfo, ...]  # the primary key first

    @property
    def attnames(self) -> tuple[str, ...]:
        return tuple(f.attname for f in self.fields)


@dataclass(frozen=True)
class UrlMount:
    prefix: str  # as in the root URLconf, e.g. "api/v1/products/"
    module: str  # the included URLconf, e.g. "monolith.catalog.urls"

    @property
    def public(self) -> bool:
        return not self.prefix.startswith(INTERNAL_PREFIX)


@dataclass(frozen=True)
class ContextInfo:
    label: str
    module: str  # the app's package, e.g. "monolith.catalog"
    installed_as: str  # its INSTALLED_APPS entry: the AppConfig the monolith uses, e.g. "monolith.catalog.apps.CatalogConfig"
    source_root: Path  # the folder ``module`` is imported from
    models: tuple[ModelInfo, ...]
    mounts: tuple[UrlMount, ...]
    app_dependencies: tuple[str, ...]  # INSTALLED_APPS entries of the apps its migrations depend on
    has_migrations: bool
    # The top-level packages under source_root the service runs: the context's and its dependencies'
    # (installed distributions, like Django's own apps, are not among them).
    source_packages: tuple[str, ...]

    @property
    def top_package(self) -> str:
        return self.module.split(".", 1)[0]

    @property
    def public_mounts(self) -> tuple[UrlMount, ...]:
        return tuple(m for m in self.mounts if m.public)


def context_describe(*, label: str) -> ContextInfo:
    """Everything the scaffold needs of the installed app ``label``; LookupError if none has it."""
    config = apps.get_app_config(label)
    dependencies, has_migrations = _migration_dependencies(label)
    root = _source_root(config)
    configs = [config, *(apps.get_app_config(d) for d in dependencies)]
    return ContextInfo(
        label=label,
        module=config.name,
        installed_as=_installed_as(config),
        source_root=root,
        models=tuple(_model_info(m) for m in config.get_models()),
        mounts=tuple(_mounts(config.name)),
        app_dependencies=tuple(_installed_as(apps.get_app_config(d)) for d in dependencies),
        has_migrations=has_migrations,
        source_packages=tuple(dict.fromkeys(c.name.split(".", 1)[0] for c in configs if _under(c, root))),
    )


def _installed_as(config: AppConfig) -> str:
    """The AppConfig class the project runs (its label and ready() with it), or the package when Django made a plain one."""
    cls = type(config)
    return config.name if cls is AppConfig else f"{cls.__module__}.{cls.__qualname__}"


def _under(config: AppConfig, root: Path) -> bool:
    return Path(config.path).resolve().is_relative_to(root)


def _source_root(config: AppConfig) -> Path:
    """The sys.path entry the app's package is found under: ``monolith.catalog`` in /repo/monolith/catalog -> /repo."""
    package_dir = Path(importlib.import_module(config.name).__file__).resolve().parent
    return package_dir.parents[config.name.count(".")]


def _model_info(model: type[models.Model]) -> ModelInfo:
    pk = model._meta.pk
    concrete = [f for f in model._meta.concrete_fields if f is not pk]
    fields = tuple(_field_info(f) for f in (pk, *concrete))
    kind = str(model._meta.verbose_name_plural).lower().replace(" ", "_")
    return ModelInfo(label=model._meta.label, name=model.__name__, pk=pk.attname, kind=kind, fields=fields)


def _field_info(field: models.Field) -> FieldInfo:
    try:
        field_check(field)
        checked = True
    except ImproperlyConfigured:
        checked = False
    bookkeeping = not field.primary_key and bool(getattr(field, "auto_now", False) or getattr(field, "auto_now_add", False))
    return FieldInfo(field.attname, bookkeeping, field.get_internal_type(), checked)


def _mounts(module: str) -> list[UrlMount]:
    """The root URLconf's includes of the app's own URL modules, in order."""
    found = []
    for pattern in get_resolver().url_patterns:
        if not isinstance(pattern, URLResolver):
            continue
        included = getattr(pattern.urlconf_module, "__name__", pattern.urlconf_name)
        if isinstance(included, str) and included.startswith(module + "."):
            found.append(UrlMount(prefix=str(pattern.pattern), module=included))
    return found


def _migration_dependencies(label: str) -> tuple[list[str], bool]:
    """(labels of the apps the app's migrations need, transitively, besides the base apps; whether it has migrations)."""
    graph = MigrationLoader(None, ignore_no_migrations=True).graph
    own = [key for key in graph.nodes if key[0] == label]
    seen: set[tuple[str, str]] = set()
    pending = list(own)
    while pending:
        key = pending.pop()
        for parent in graph.node_map[key].parents:
            if parent.key not in seen:
                seen.add(parent.key)
                pending.append(parent.key)
    needed = []
    for app_label, _name in sorted(seen):
        if app_label != label and app_label not in SERVICE_BASE_APPS and app_label not in needed:
            needed.append(app_label)
    return needed, bool(own)
