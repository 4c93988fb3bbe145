"""The project's apps (from the app registry) and their source files, parsed once, never imported."""

from __future__ import annotations

import ast
import sys
import sysconfig
from dataclasses import dataclass, field
from pathlib import Path

from django.apps import apps as registry
from django.conf import settings

from .graph import AppNode

TEST_PARTS = {"tests", "test"}


@dataclass
class SourceFile:
    path: Path
    rel: str
    module: str
    app: str
    is_package: bool
    tree: ast.Module


@dataclass
class Project:
    root: Path
    apps: dict[str, AppNode]
    files: list[SourceFile] = field(default_factory=list)
    shared: frozenset[str] = frozenset()
    interface_modules: tuple[str, ...] = ("interface", "events")
    include_tests: bool = False
    _by_name: dict[str, str] | None = None

    def app_of_module(self, module: str) -> str | None:
        """The app whose package holds ``module`` (the longest matching package wins)."""
        if self._by_name is None:
            self._by_name = {node.name: label for label, node in self.apps.items()}
        parts = module.split(".")
        for end in range(len(parts), 0, -1):
            label = self._by_name.get(".".join(parts[:end]))
            if label:
                return label
        return None

    def app_of_path(self, path: str) -> str | None:
        best, best_len = None, -1
        for label, node in self.apps.items():
            base = str(node.path)
            if (path == base or path.startswith(base + "/")) and len(base) > best_len:
                best, best_len = label, len(base)
        return best

    def is_interface(self, module: str, app: str) -> bool:
        rest = module[len(self.apps[app].name):].lstrip(".")
        return bool(rest) and rest.split(".")[0] in self.interface_modules


def _site_dirs() -> list[str]:
    paths = sysconfig.get_paths()
    return [p for p in {paths.get("purelib"), paths.get("platlib"), sys.prefix, sys.base_prefix} if p]


def project_root() -> Path:
    base = getattr(settings, "BASE_DIR", None)
    return Path(base).resolve() if base else Path.cwd().resolve()


def discover(labels: list[str] | None, root: Path) -> dict[str, AppNode]:
    """``labels`` (labels or dotted names) if given, else every app under ``root`` outside site-packages."""
    wanted = set(labels or [])
    site = _site_dirs()
    out: dict[str, AppNode] = {}
    for config in registry.get_app_configs():
        if config.name.startswith("strangler.django."):
            continue
        path = Path(config.path).resolve()
        if wanted:
            if config.label not in wanted and config.name not in wanted:
                continue
        elif not str(path).startswith(str(root) + "/") or any(str(path).startswith(s) for s in site if
                                                               not str(root).startswith(s)):
            continue
        node = AppNode(config.label, config.name, path)
        for model in config.get_models(include_auto_created=True):
            node.models[model.__name__] = model.__module__
            node.tables[model._meta.db_table] = model.__name__
        out[config.label] = node
    missing = wanted - {n.label for n in out.values()} - {n.name for n in out.values()}
    if missing:
        raise LookupError(f"not installed apps: {', '.join(sorted(missing))}")
    return out


def is_test(parts: tuple[str, ...]) -> bool:
    name = parts[-1]
    return bool(TEST_PARTS & set(parts[:-1])) or name.startswith("test_") or name in {
        "tests.py", "conftest.py"}


def collect(project: Project, include_tests: bool = False, progress=None) -> None:
    """Parse every .py file of every project app (not migrations, not tests unless asked)."""
    seen: set[Path] = set()
    for label, node in sorted(project.apps.items(), key=lambda kv: -len(str(kv[1].path))):
        for path in sorted(node.path.rglob("*.py")):
            if path in seen:
                continue
            seen.add(path)
            parts = path.relative_to(node.path).parts
            if "migrations" in parts or (not include_tests and is_test(parts)):
                continue
            if project.app_of_path(str(path)) != label:
                continue
            mod_parts = list(parts[:-1]) + ([] if parts[-1] == "__init__.py" else [parts[-1][:-3]])
            module = ".".join([node.name, *mod_parts])
            try:
                tree = ast.parse(path.read_bytes(), filename=str(path))
            except (SyntaxError, ValueError):
                continue
            rel = _rel(path, project.root)
            project.files.append(SourceFile(path, rel, module, label, parts[-1] == "__init__.py", tree))
            node.modules.append(module)
        if progress:
            progress(f"parsed {label}")


def _rel(path: Path, root: Path) -> str:
    try:
        return str(path.relative_to(root))
    except ValueError:
        return str(path)
