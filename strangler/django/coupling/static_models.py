"""Foreign keys, one-to-one and many-to-many fields that cross apps, from the model registry, each
with its field name and the line that declares it (read with AST from the model's source file)."""

from __future__ import annotations

import ast
import inspect
from collections.abc import Iterator
from pathlib import Path

from django.apps import apps as registry

from .graph import Edge, relative
from .project import Project


class Lines:
    """Where a class attribute is assigned in its class body; each file parsed once."""

    def __init__(self, project: Project) -> None:
        self._trees = {str(src.path): src.tree for src in project.files}
        self._classes: dict[str, dict[str, ast.ClassDef]] = {}

    def _class(self, path: str, name: str) -> ast.ClassDef | None:
        if path not in self._classes:
            tree = self._trees.get(path)
            if tree is None:
                try:
                    tree = ast.parse(Path(path).read_bytes())
                except (OSError, SyntaxError, ValueError):
                    tree = ast.Module(body=[], type_ignores=[])
            self._classes[path] = {n.name: n for n in ast.walk(tree) if isinstance(n, ast.ClassDef)}
        return self._classes[path].get(name)

    def field(self, model: type, field_name: str) -> tuple[str, int] | None:
        """(file, line) of ``field_name = ...`` in the model or the first base class declaring it."""
        fallback = None
        for klass in model.__mro__:
            if klass.__module__.startswith("django.") or klass is object:
                continue
            try:
                path = str(Path(inspect.getsourcefile(klass) or "").resolve())
            except TypeError:
                continue
            node = self._class(path, klass.__name__)
            if node is None:
                continue
            fallback = fallback or (path, node.lineno)
            for stmt in node.body:
                targets = stmt.targets if isinstance(stmt, ast.Assign) else [
                    stmt.target] if isinstance(stmt, ast.AnnAssign) else []
                if any(isinstance(t, ast.Name) and t.id == field_name for t in targets):
                    return path, stmt.lineno
        return fallback


def model_edges(project: Project) -> Iterator[Edge]:
    lines = Lines(project)
    for label in project.apps:
        for model in registry.get_app_config(label).get_models():
            fields = [*model._meta.local_fields, *model._meta.local_many_to_many]
            for field in fields:
                if not field.is_relation or not isinstance(field.related_model, type):
                    continue
                target = field.related_model._meta.app_label
                if target == label or target not in project.apps:
                    continue
                kind = "m2m" if field.many_to_many else "o2o" if field.one_to_one else "fk"
                where = lines.field(model, field.name) or ("?", 0)
                other = field.related_model
                parent = " (parent link)" if getattr(field.remote_field, "parent_link", False) else ""
                detail = (f"{model.__name__}.{field.name} -> {target}.{other.__name__}{parent}")
                yield Edge("shared" if target in project.shared else kind, label, target,
                           relative(where[0], project.root), where[1], detail, model.__module__,
                           other.__module__)
