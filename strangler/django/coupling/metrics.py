"""Partition quality metrics from Mono2Micro (Kalia et al., ESEC/FSE 2021; Jin et al., TSE 2019).

Pure functions over units (here: Python modules, Mono2Micro's classes), a partition of the units and
weighted directed edges between them. Definitions are in the README ("Coupling report: metrics").
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping

Edges = Iterable[tuple[str, str, int]]  # (from unit, to unit, weight or call count)


def structural_modularity(part: Mapping[str, int], edges: Edges) -> float:
    """SM = 1/K Σ_i μ_i/N_i² − 1/(K(K−1)/2) Σ_{i<j} σ_ij/(2·N_i·N_j). Higher is better.

    μ_i: edges inside partition i; σ_ij: edges between i and j (either way); N_i: units in i."""
    sizes = Counter(part.values())
    k = len(sizes)
    if not k:
        return 0.0
    inside: Counter[int] = Counter()
    between: Counter[tuple[int, int]] = Counter()
    for a, b, w in edges:
        pa, pb = part.get(a), part.get(b)
        if pa is None or pb is None or a == b:
            continue
        if pa == pb:
            inside[pa] += w
        else:
            between[(min(pa, pb), max(pa, pb))] += w
    cohesion = sum(inside[i] / sizes[i] ** 2 for i in sizes) / k
    if k == 1:
        return cohesion
    coupling = sum(s / (2 * sizes[i] * sizes[j]) for (i, j), s in between.items()) / (k * (k - 1) / 2)
    return cohesion - coupling


def inter_partition_call_percentage(part: Mapping[str, int], calls: Edges) -> float:
    """ICP = Σ_{i≠j} c_ij / Σ_{i,j} c_ij, calls between partitions over all calls. Lower is better."""
    total = across = 0
    for a, b, c in calls:
        pa, pb = part.get(a), part.get(b)
        if pa is None or pb is None:
            continue
        total += c
        across += c if pa != pb else 0
    return across / total if total else 0.0


def interface_number(part: Mapping[str, int], edges: Edges) -> float:
    """IFN = 1/K Σ_k |units of k called from outside k|. Lower is better."""
    k = len(set(part.values()))
    interfaces = {b for a, b, _ in edges if a in part and b in part and part[a] != part[b]}
    return len(interfaces) / k if k else 0.0


def non_extreme_distribution(part: Mapping[str, int], low: int = 5, high: int = 20) -> float:
    """NED = 1 − Σ_{k: low ≤ N_k ≤ high} N_k / N: the share of units in partitions of extreme size
    (Mono2Micro takes 5 to 20 classes as non-extreme). Lower is better."""
    sizes = Counter(part.values())
    n = sum(sizes.values())
    return 1 - sum(s for s in sizes.values() if low <= s <= high) / n if n else 0.0


def all_metrics(part: Mapping[str, int], edges: list[tuple[str, str, int]],
                calls: list[tuple[str, str, int]] | None = None) -> dict[str, float]:
    return {
        "icp": round(inter_partition_call_percentage(part, edges if calls is None else calls), 4),
        "sm": round(structural_modularity(part, edges), 4),
        "ifn": round(interface_number(part, edges), 4),
        "ned": round(non_extreme_distribution(part), 4),
    }
