"""Everything the command reports, assembled once into a JSON-ready dict (see coupling.schema.json)."""

from __future__ import annotations

import time
from pathlib import Path

from .advice import advise
from .contracts_out import contracts_toml
from .graph import COST, Edge, with_kind
from .partition import candidates, parse_partition, partition_metrics, suggest
from .project import Project, collect, discover
from .static_imports import import_edges, internal_edges
from .static_models import model_edges
from .static_signals import signal_edges
from .static_sql import sql_edges
from .static_usage import model_index, usage_edges

SCHEMA = "strangler-coupling/1"


def static_edges(project: Project) -> list[Edge]:
    index = model_index(project)
    structural = [*model_edges(project), *signal_edges(project, index), *sql_edges(project)]
    taken = {(e.file, e.line, e.target) for e in structural}
    usage = [e for e in usage_edges(project, index) if (e.file, e.line, e.target) not in taken]
    return sorted([*import_edges(project), *structural, *usage],
                  key=lambda e: (e.source, e.target, e.file, e.line, e.kind))


def build(apps: list[str] | None = None, shared: list[str] | None = None, partition: str | None = None,
          interface_modules: tuple[str, ...] = ("interface", "events"), include_tests: bool = False,
          dynamic=None, root: Path | None = None, progress=lambda msg: None) -> dict:
    """``dynamic`` is a callable(project) -> (edges, runtime internal calls, summary) or None."""
    from .project import project_root

    started = time.perf_counter()
    root = root or project_root()
    nodes = discover(apps, root)
    project = Project(root, nodes, interface_modules=interface_modules, include_tests=include_tests)
    named = [] if shared in (None, ["none"]) else shared
    project.shared = frozenset(project.app_of_module(s) or s for s in named)
    progress(f"{len(nodes)} project apps, {sum(len(n.models) for n in nodes.values())} models")
    collect(project, include_tests)
    progress(f"{len(project.files)} source files parsed")
    edges = static_edges(project)
    internal = list(internal_edges(project))
    progress(f"{len(edges)} static cross-app edges")
    if shared is None:  # not given: a kernel every other app leans on and that leans on none
        project.shared = detect_shared(project, edges)
        edges = [with_kind(e, "shared") if e.target in project.shared else e for e in edges]
        if project.shared:
            progress(f"shared kernel detected: {', '.join(sorted(project.shared))} (--shared none: no kernel)")
    calls, runtime_internal, summary = [], [], None
    if dynamic is not None:
        found, runtime_internal, summary = dynamic(project)
        calls = [e for e in found if e.kind == "query"]
        found = [with_kind(e, "shared") if e.target in project.shared else e for e in found]
        edges += sorted(found, key=lambda e: (e.source, e.target, e.file, e.line))
        progress(f"{len(found)} run-time cross-app edges")
    ranked = candidates(project, edges)
    suggested = partition is None
    services = suggest(ranked) if suggested else parse_partition(partition, project)
    metrics = partition_metrics(project, services, edges, internal, calls, runtime_internal)
    for_each = {c.app: partition_metrics(project, [[c.app]], edges, internal, calls, runtime_internal)
                for c in ranked}
    return {
        "schema": SCHEMA,
        "root": str(root),
        "apps": [n.as_dict(root) for n in nodes.values()],
        "shared": sorted(project.shared),
        "edges": [_edge(e, project) for e in edges],
        "candidates": [{"app": c.app, "rank": i + 1, "cost": c.cost, "ready": c.ready, "kinds": c.kinds,
                        "edges": len(c.edges), "metrics": for_each[c.app]} for i, c in enumerate(ranked)],
        "partition": {"services": services, "suggested": suggested, "metrics": metrics,
                      "edges_to_cut": len([e for e in edges if any(
                          (e.source in g) != (e.target in g) for g in services)])},
        "contracts": contracts_toml(project, services),
        "dynamic": summary,
        "costs": COST,
        "seconds": round(time.perf_counter() - started, 3),
    }


def detect_shared(project: Project, edges: list[Edge]) -> frozenset[str]:
    """Apps with no edge out to another project app and edges in from at least half of the others
    (and two or more): what a shared kernel looks like. Empty when the project has fewer than 3 apps."""
    if len(project.apps) < 3:
        return frozenset()
    out = {e.source for e in edges}
    users: dict[str, set[str]] = {}
    for e in edges:
        users.setdefault(e.target, set()).add(e.source)
    others = len(project.apps) - 1
    return frozenset(a for a in project.apps if a not in out and len(users.get(a, ())) >= max(2, others / 2))


def _edge(e: Edge, project: Project) -> dict:
    return {**e.as_dict(), "cost": COST[e.kind] * e.count,
            "advice": advise(e, project.apps[e.target].name)}
