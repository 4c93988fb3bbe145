"""Mono2Micro's metrics on small partitions worked out by hand."""

import pytest

from strangler.django.coupling.metrics import (
    inter_partition_call_percentage,
    interface_number,
    non_extreme_distribution,
    structural_modularity,
)

# Two partitions: {a, b} (1) and {c, d} (2); a->b and c->d inside, a->c between (twice).
PART = {"a": 1, "b": 1, "c": 2, "d": 2}
EDGES = [("a", "b", 1), ("c", "d", 1), ("a", "c", 2)]


def test_icp_is_the_share_of_calls_between_partitions():
    assert inter_partition_call_percentage(PART, EDGES) == pytest.approx(2 / 4)
    assert inter_partition_call_percentage(PART, []) == 0.0


def test_sm_is_cohesion_minus_coupling():
    # cohesion: (1/2² + 1/2²)/2 = 0.25; coupling: (2 / (2·2·2)) / (2·1/2) = 0.25
    assert structural_modularity(PART, EDGES) == pytest.approx(0.0)
    assert structural_modularity(PART, EDGES[:2]) == pytest.approx(0.25)


def test_ifn_counts_units_called_from_another_partition_per_partition():
    assert interface_number(PART, EDGES) == pytest.approx(1 / 2)  # only c, over 2 partitions
    assert interface_number(PART, EDGES + [("d", "b", 1)]) == pytest.approx(2 / 2)


def test_ned_is_the_share_of_units_in_partitions_of_extreme_size():
    part = {f"u{i}": 1 for i in range(6)} | {f"v{i}": 2 for i in range(2)}
    assert non_extreme_distribution(part) == pytest.approx(1 - 6 / 8)
    assert non_extreme_distribution(PART) == pytest.approx(1.0)
