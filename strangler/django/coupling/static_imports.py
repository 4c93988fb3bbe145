"""Imports between the project's apps, read from the source (AST), relative imports resolved."""

from __future__ import annotations

from collections.abc import Iterator

from .graph import Edge
from .names import imports
from .project import Project


def import_edges(project: Project) -> Iterator[Edge]:
    known = {src.module for src in project.files}
    for src in project.files:
        for node, base, names in imports(src):
            targets = [f"{base}.{n}" if f"{base}.{n}" in known else base for n in names] or [base]
            for target_module in dict.fromkeys(targets):
                target = project.app_of_module(target_module)
                if target is None or target == src.app:
                    continue
                if target in project.shared:
                    kind = "shared"
                elif project.is_interface(target_module, target):
                    kind = "interface_import"
                else:
                    kind = "import"
                what = ", ".join(names) if names else target_module
                detail = f"from {base} import {what}" if names else f"import {target_module}"
                yield Edge(kind, src.app, target, src.rel, node.lineno, detail, src.module, target_module)


def internal_edges(project: Project) -> Iterator[tuple[str, str, int]]:
    """Imports inside one app, module to module: not edges to cut, but the cohesion SM measures."""
    known = {src.module for src in project.files}
    for src in project.files:
        for _node, base, names in imports(src):
            for target_module in {f"{base}.{n}" if f"{base}.{n}" in known else base for n in names} or {base}:
                if target_module in known and target_module != src.module and \
                        project.app_of_module(target_module) == src.app:
                    yield src.module, target_module, 1
