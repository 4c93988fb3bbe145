"""Candidates to extract next, ranked by the cost of their edges, and a partition's metrics."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from .graph import COST, Edge
from .metrics import all_metrics
from .project import Project

SOFT = {"interface_import", "shared"}


@dataclass
class Candidate:
    app: str
    cost: int
    kinds: dict[str, int]
    edges: list[Edge]

    @property
    def ready(self) -> bool:
        """Nothing but published-interface imports and shared-kernel edges left to cut."""
        return all(e.kind in SOFT for e in self.edges)


def parse_partition(text: str, project: Project) -> list[list[str]]:
    """``"payments,catalog+orders"``: each comma-separated item is a service, ``+`` groups apps."""
    groups = [[a.strip() for a in item.split("+") if a.strip()] for item in text.split(",") if item.strip()]
    by_name = {node.name: label for label, node in project.apps.items()}
    out = []
    for group in groups:
        labels = [by_name.get(a, a) for a in group]
        unknown = [a for a in labels if a not in project.apps]
        if unknown:
            raise LookupError(f"not project apps: {', '.join(unknown)}")
        out.append(labels)
    return out


def crossing(edges: list[Edge], apps: set[str]) -> list[Edge]:
    return [e for e in edges if (e.source in apps) != (e.target in apps)]


def candidates(project: Project, edges: list[Edge]) -> list[Candidate]:
    out = []
    for label in project.apps:
        if label in project.shared:
            continue
        mine = sorted(crossing(edges, {label}), key=lambda e: (-COST[e.kind], e.file, e.line))
        kinds = Counter()
        for e in mine:
            kinds[e.kind] += e.count
        cost = sum(COST[e.kind] * e.count for e in mine)
        out.append(Candidate(label, cost, dict(kinds), mine))
    return sorted(out, key=lambda c: (c.cost, sum(c.kinds.values()), c.app))


def suggest(ranked: list[Candidate]) -> list[list[str]]:
    """Every candidate with only soft edges left, each its own service; else the cheapest one."""
    ready = [[c.app] for c in ranked if c.ready]
    return ready or ([[ranked[0].app]] if ranked else [])


def partition_metrics(project: Project, services: list[list[str]], edges: list[Edge],
                      internal: list[tuple[str, str, int]], calls: list[Edge] = (),
                      calls_internal: list[tuple[str, str, int]] = ()) -> dict[str, float]:
    """Mono2Micro's metrics with modules as units: each service one partition, the rest one more.
    ``edges``+``internal`` are the static graph; ``calls``+``calls_internal`` the run-time queries."""
    of_app = {app: i + 1 for i, group in enumerate(services) for app in group}
    part: dict[str, int] = {}
    for label, node in project.apps.items():
        for module in node.modules or [node.name]:
            part[module] = of_app.get(label, 0)

    def unit(module: str, app: str | None) -> str:
        if module not in part:
            part[module] = of_app.get(app or project.app_of_module(module) or "", 0)
        return module

    static = [(unit(e.source_module, e.source), unit(e.target_module, e.target), e.count)
              for e in edges if e.kind not in ("query", "transaction")] + internal
    runtime = [(unit(e.source_module, e.source), unit(e.target_module, e.target), e.count) for e in calls]
    runtime += [(unit(a, None), unit(b, None), c) for a, b, c in calls_internal]
    metrics = all_metrics(part, static, runtime if runtime else None)
    metrics["icp_basis"] = "runtime" if runtime else "static"
    metrics["partitions"] = len(set(part.values()))
    metrics["units"] = len(part)
    return metrics
