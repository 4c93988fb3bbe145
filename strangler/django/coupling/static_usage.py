"""Another app's models named in an app's code (``Product.objects...``, ``cm.Product``, "shop.Product")."""

from __future__ import annotations

import ast
from collections.abc import Iterator

from .graph import Edge
from .names import bindings, dotted
from .project import Project, SourceFile

Model = tuple[str, str, str]  # (app label, class name, defining module)


def model_index(project: Project) -> dict[str, Model]:
    """Every dotted path (and "label.Model" string) that names a project model."""
    index: dict[str, Model] = {}
    for label, node in project.apps.items():
        for name, module in node.models.items():
            model = (label, name, module)
            for key in (f"{module}.{name}", f"{node.name}.models.{name}", f"{node.name}.{name}",
                        f"{label}.{name}", f"{label}.{name.lower()}"):
                index.setdefault(key, model)
    return index


def resolve(expr: ast.AST, names: dict[str, str], index: dict[str, Model]) -> Model | None:
    if isinstance(expr, ast.Constant) and isinstance(expr.value, str):
        return index.get(expr.value)
    path = dotted(expr, names)
    return index.get(path) if path else None


def usage_edges(project: Project, index: dict[str, Model] | None = None) -> Iterator[Edge]:
    index = index if index is not None else model_index(project)
    for src in project.files:
        yield from _file_usage(project, src, bindings(src), index)


def _file_usage(project: Project, src: SourceFile, names: dict[str, str],
                index: dict[str, Model]) -> Iterator[Edge]:
    local = {k: v for k, v in names.items() if project.app_of_module(v) not in (None, src.app)}
    if not local:
        return
    seen: set[tuple[int, str]] = set()
    for node in ast.walk(src.tree):
        if not isinstance(node, ast.Name | ast.Attribute):
            continue
        model = resolve(node, local, index)
        if model is None or model[0] == src.app or (node.lineno, model[1]) in seen:
            continue
        seen.add((node.lineno, model[1]))
        label, name, module = model
        kind = "shared" if label in project.shared else "model_use"
        yield Edge(kind, src.app, label, src.rel, node.lineno, f"uses {label}.{name}", src.module, module)
