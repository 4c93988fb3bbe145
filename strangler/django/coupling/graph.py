"""The vocabulary: apps, the edges between them, and what each kind of edge costs to cut."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path

# kind -> cost of cutting one such edge (data moves cost most, a published interface least).
COST = {
    "fk": 5, "o2o": 5, "m2m": 5,          # a column/table holding another context's rows
    "raw_sql": 4, "transaction": 4,       # SQL over another context's tables, one transaction over two
    "signal": 3, "model_use": 3,          # another context's models in this one's code
    "import": 2, "query": 2,              # an import of internals; a query seen at run time
    "interface_import": 1,                # already through the context's interface: becomes a remote call
    "shared": 0,                          # into a shared kernel the services take as a library
}
KINDS = tuple(COST)
STATIC_KINDS = ("import", "interface_import", "fk", "o2o", "m2m", "signal", "model_use", "raw_sql")
DYNAMIC_KINDS = ("query", "transaction")


@dataclass(frozen=True)
class Edge:
    """One thing tying ``source`` (the app whose code or table holds it) to ``target``."""

    kind: str
    source: str
    target: str
    file: str
    line: int
    detail: str
    source_module: str
    target_module: str
    count: int = 1

    @property
    def where(self) -> str:
        return f"{self.file}:{self.line}"

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass
class AppNode:
    """A project app: its label, module, directory, models (class name -> module) and tables."""

    label: str
    name: str
    path: Path
    models: dict[str, str] = field(default_factory=dict)
    tables: dict[str, str] = field(default_factory=dict)  # db_table -> model class name
    modules: list[str] = field(default_factory=list)

    def as_dict(self, root: Path) -> dict:
        return {"label": self.label, "name": self.name, "path": relative(self.path, root),
                "models": sorted(self.models), "tables": sorted(self.tables), "modules": len(self.modules)}


def relative(path: Path | str, root: Path) -> str:
    path = Path(path)
    try:
        return str(path.resolve().relative_to(root))
    except ValueError:
        return str(path)


def with_kind(edge: Edge, kind: str) -> Edge:
    return Edge(kind, edge.source, edge.target, edge.file, edge.line, edge.detail,
                edge.source_module, edge.target_module, edge.count)
