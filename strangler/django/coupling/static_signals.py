"""Signal receivers connected across apps: ``@receiver(post_save, sender=OtherModel)``,
``post_save.connect(handler, sender=OtherModel)`` and receivers of another app's own signals."""

from __future__ import annotations

import ast
from collections.abc import Iterator

from .graph import Edge
from .names import bindings, dotted
from .project import Project, SourceFile
from .static_usage import Model, model_index, resolve


def signal_edges(project: Project, index: dict[str, Model] | None = None) -> Iterator[Edge]:
    index = index if index is not None else model_index(project)
    for src in project.files:
        names = bindings(src)
        for node in ast.walk(src.tree):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                for deco in node.decorator_list:
                    if isinstance(deco, ast.Call) and _callee(deco.func) == "receiver" and deco.args:
                        yield from _connection(project, src, names, index, deco, deco.args[0], node.name)
            elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                  and node.func.attr == "connect"):
                handler = _name(node.args[0]) if node.args else "?"
                yield from _connection(project, src, names, index, node, node.func.value, handler)


def _callee(func: ast.AST) -> str:
    return func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")


def _name(expr: ast.AST) -> str:
    return ast.unparse(expr) if expr is not None else "?"


def _connection(project: Project, src: SourceFile, names: dict[str, str], index: dict[str, Model],
                call: ast.Call, signal: ast.AST, handler: str) -> Iterator[Edge]:
    sender = next((k.value for k in call.keywords if k.arg == "sender"), None)
    signal_name = _name(signal)
    model = resolve(sender, names, index) if sender is not None else None
    if model is not None and model[0] != src.app:
        label, name, module = model
        yield Edge(_kind(project, label), src.app, label, src.rel, call.lineno,
                   f"{signal_name}(sender={label}.{name}) -> {handler}", src.module, module)
        return
    path = dotted(signal, names)
    owner = project.app_of_module(path) if path else None
    if owner is not None and owner != src.app:
        module = path.rsplit(".", 1)[0]
        yield Edge(_kind(project, owner), src.app, owner, src.rel, call.lineno,
                   f"{signal_name} (a signal of {owner}) -> {handler}", src.module, module)


def _kind(project: Project, target: str) -> str:
    return "shared" if target in project.shared else "signal"
