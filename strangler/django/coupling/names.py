"""What a name means in one source file: its imports resolved to dotted paths (relative ones too)."""

from __future__ import annotations

import ast
from collections.abc import Iterator

from .project import SourceFile


def import_base(src: SourceFile, node: ast.ImportFrom) -> str:
    """The absolute module an ``ImportFrom`` reads from (``from ..x import y`` resolved)."""
    if not node.level:
        return node.module or ""
    package = src.module.split(".") if src.is_package else src.module.split(".")[:-1]
    if node.level > 1:
        package = package[: len(package) - (node.level - 1)]
    return ".".join([*package, node.module] if node.module else package)


def imports(src: SourceFile) -> Iterator[tuple[ast.stmt, str, list[str]]]:
    """(statement, module, imported names) for every import, nested ones included."""
    for node in ast.walk(src.tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node, alias.name, []
        elif isinstance(node, ast.ImportFrom):
            yield node, import_base(src, node), [a.name for a in node.names]


def bindings(src: SourceFile) -> dict[str, str]:
    """Local name -> the dotted path it stands for (``from a.b import C as D`` gives D -> a.b.C)."""
    out: dict[str, str] = {}
    for node in ast.walk(src.tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.asname:
                    out[alias.asname] = alias.name
                else:
                    out.setdefault(alias.name.split(".")[0], alias.name.split(".")[0])
        elif isinstance(node, ast.ImportFrom):
            base = import_base(src, node)
            for alias in node.names:
                if alias.name != "*":
                    out[alias.asname or alias.name] = f"{base}.{alias.name}"
    return out


def dotted(expr: ast.AST, names: dict[str, str]) -> str | None:
    """``cm.Product`` -> ``monolith.catalog.models.Product`` when ``cm`` is an imported name."""
    attrs: list[str] = []
    while isinstance(expr, ast.Attribute):
        attrs.append(expr.attr)
        expr = expr.value
    if not isinstance(expr, ast.Name) or expr.id not in names:
        return None
    return ".".join([names[expr.id], *reversed(attrs)])
