"""Conflict policy of a synced row: the same winner on both sides for two versions written
concurrently, and the record of each conflict (strangler_extraction.SyncConflict)."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from strangler.django.extraction.models import SyncConflict


@dataclass(frozen=True)
class ConflictPolicy:
    """A total order on versions of one row, computed from the versions alone, so both sides pick
    the same winner whichever of them holds which: higher ``revision_field``; then higher rank of
    ``rank_field`` (terminal states above the others); then the origin listed first in ``origins``;
    then the higher digest of ``compared_fields``. Two versions conflict when they share a
    revision but differ on ``compared_fields`` (derived fields, recomputed after a merge, excluded)."""

    revision_field: str
    compared_fields: Sequence[str]
    rank_field: str | None = None
    ranks: Mapping[str, int] = field(default_factory=dict)
    origins: Sequence[str] = ()

    def differs(self, held: Mapping[str, Any], incoming: Mapping[str, Any]) -> bool:
        return any(str(held[name]) != str(incoming[name]) for name in self.compared_fields)

    def _order(self, row: Mapping[str, Any], origin: str | None) -> tuple:
        rank = self.ranks.get(row[self.rank_field], -1) if self.rank_field else 0
        precedence = len(self.origins) - self.origins.index(origin) if origin in self.origins else 0
        digest = hashlib.sha256("|".join(str(row[n]) for n in self.compared_fields).encode()).hexdigest()
        return row[self.revision_field], rank, precedence, digest

    def winner(self, *, held: Mapping[str, Any], held_origin: str | None, incoming: Mapping[str, Any],
               incoming_origin: str | None) -> str:
        """``SyncConflict.HELD`` or ``SyncConflict.INCOMING``."""
        incoming_wins = self._order(incoming, incoming_origin) > self._order(held, held_origin)
        return SyncConflict.INCOMING if incoming_wins else SyncConflict.HELD


def children_over_limit(*, limits: Mapping[Any, int], held: Iterable[tuple[Any, Any, int]],
                        incoming: Iterable[tuple[Any, Any, int]]) -> dict[Any, list[Any]]:
    """Parents whose children (``(parent, child id, amount)``) would sum above their limit once the
    incoming children not held yet are added; maps each to those refused child ids."""
    held_ids, totals = set(), dict.fromkeys(limits, 0)
    for parent, child, amount in held:
        held_ids.add(child)
        totals[parent] = totals.get(parent, 0) + amount
    new: dict[Any, list[Any]] = {}
    for parent, child, amount in incoming:
        if child not in held_ids and child not in new.get(parent, ()):
            new.setdefault(parent, []).append(child)
            totals[parent] = totals.get(parent, 0) + amount
    return {parent: new[parent] for parent in new if parent in limits and totals[parent] > limits[parent]}


def conflict_record(*, context: str, row_id: Any, kind: str, held: Any, incoming: Any, incoming_origin: str | None,
                    decision: str, detail: str = "") -> SyncConflict:
    return SyncConflict.objects.create(context=context, row_id=str(row_id), kind=kind, held=held, incoming=incoming,
                                       incoming_origin=incoming_origin or "", decision=decision, detail=detail[:300])


def conflict_count(*, context: str) -> int:
    return SyncConflict.objects.filter(context=context).count()
