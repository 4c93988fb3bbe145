"""Raw SQL in an app's code that names another app's tables (``db_table``)."""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator

from .graph import Edge
from .project import Project

SQL = re.compile(r"\b(select|insert|update|delete|from|join|into|table)\b", re.IGNORECASE)
IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_$]*")


def table_index(project: Project) -> dict[str, tuple[str, str, str]]:
    """db_table (lower case) -> (app label, model name, model module)."""
    out = {}
    for label, node in project.apps.items():
        for table, model in node.tables.items():
            out[table.lower()] = (label, model, node.models.get(model, node.name))
    return out


def tables_in(sql: str, tables: dict[str, tuple[str, str, str]]) -> list[tuple[str, str, str, str]]:
    """(table, app, model, module) for each known table an SQL text names, in order, once each."""
    found = {}
    for word in IDENT.findall(sql):
        hit = tables.get(word.lower())
        if hit and word.lower() not in found:
            found[word.lower()] = (word.lower(), *hit)
    return list(found.values())


def sql_edges(project: Project) -> Iterator[Edge]:
    tables = table_index(project)
    for src in project.files:
        for node in ast.walk(src.tree):
            if not (isinstance(node, ast.Constant) and isinstance(node.value, str)):
                continue
            text = node.value
            if len(text) < 12 or not SQL.search(text):
                continue
            for table, label, model, module in tables_in(text, tables):
                if label == src.app:
                    continue
                kind = "shared" if label in project.shared else "raw_sql"
                yield Edge(kind, src.app, label, src.rel, node.lineno,
                           f"raw SQL on {table} ({label}.{model})", src.module, module)
