"""The backfill's moving parts: the checkpoint position, batches in the import's JSON form, the
progress line and the pipelined sender (``strangler_backfill`` puts them together)."""

from __future__ import annotations

import json
import time
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from strangler.django.extraction.export import EncodedRows, rows_export_page, rows_export_page_json
from strangler.django.extraction.spec import ExtractionSpec

PHASE_DONE = "done"


@dataclass
class Position:
    """What the checkpoint stores (as JSON): the phase (a kind copied in turn), the last key sent, counts."""

    phase: str
    after: str | int | None = None
    counts: dict[str, int] = field(default_factory=dict)

    @classmethod
    def start(cls, spec: ExtractionSpec) -> Position:
        return cls(phase=spec.kind, counts=dict.fromkeys(spec.kinds, 0))

    @classmethod
    def load(cls, spec: ExtractionSpec, text: str) -> Position:
        if not text:
            return cls.start(spec)
        data = json.loads(text)
        return cls(phase=data["phase"], after=data["after"], counts=dict.fromkeys(spec.kinds, 0) | data["counts"])

    def dump(self) -> str:
        return json.dumps({"phase": self.phase, "after": self.after, "counts": self.counts})


@dataclass
class Batch:
    phase: str
    last: str | int
    rows: dict[str, list[dict] | EncodedRows]

    def encode(self, spec: ExtractionSpec, origin: str) -> bytes:
        def text(rows: list[dict] | EncodedRows) -> str:
            return rows.text if isinstance(rows, EncodedRows) else json.dumps(rows, separators=(",", ":"))

        kinds = ",".join(f"{json.dumps(kind)}:{text(self.rows.get(kind, []))}" for kind in spec.kinds)
        return f'{{{kinds},"origin":{json.dumps(origin)}}}'.encode()

    def sizes(self) -> dict[str, int]:
        return {kind: rows.count if isinstance(rows, EncodedRows) else len(rows) for kind, rows in self.rows.items()}


class Progress:
    """One updating line on stderr: copied/total, percent, rows/s, ETA."""

    def __init__(self, write: Callable[[str], None], total: int) -> None:
        self.write, self.total, self.started, self.done = write, total, time.monotonic(), 0

    def add(self, rows: int) -> None:
        self.done += rows
        elapsed = max(time.monotonic() - self.started, 1e-6)
        rate = self.done / elapsed
        percent = 100.0 * self.done / self.total if self.total else 100.0
        eta = (self.total - self.done) / rate if rate and self.total > self.done else 0.0
        self.write(f"\rcopied {self.done:,}/{self.total:,} ({percent:5.1f}%)  {rate:,.0f} rows/s  ETA {eta:,.0f}s ")

    def finish(self) -> None:
        self.write("\n")


def row_batches(spec: ExtractionSpec, after: str | None, size: int) -> Iterator[Batch]:
    parse = spec.row_model()._meta.get_field(spec.id_field).to_python
    cursor = parse(after) if after else None
    while True:
        encoded = rows_export_page_json(spec, after=cursor, limit=size)
        if encoded is not None:
            if not encoded[spec.kind].count:
                return
            cursor = parse(encoded[spec.kind].last)
            yield Batch(phase=spec.kind, last=str(cursor), rows=encoded)
            continue
        page = rows_export_page(spec, after=cursor, limit=size)
        rows = page[spec.kind]
        if not rows:
            return
        cursor = parse(rows[-1][spec.id_field])
        yield Batch(phase=spec.kind, last=str(cursor), rows=page)


def extra_batches(spec: ExtractionSpec, kind: str, after: int | None, size: int) -> Iterator[Batch]:
    extra = next(e for e in spec.extra_exports if e.kind == kind)
    cursor = after or 0
    while True:
        rows, last = extra.call("page", after=cursor, limit=size)
        if last is None:
            return
        cursor = last
        yield Batch(phase=kind, last=last, rows={kind: rows})


def pipelined(batches: Iterator[Batch], send: Callable[[Batch], Any], acknowledged: Callable[[Batch], None],
              window: int = 2) -> None:
    """Keep up to ``window`` batches in flight on background threads while the next is read here,
    so reading, the target's parsing and its database writes overlap. ``acknowledged`` runs here,
    in key order, only once a batch and every batch before it were accepted: the checkpoint never
    passes a batch the target did not take. The first failure stops everything."""
    with ThreadPoolExecutor(max_workers=window, thread_name_prefix="backfill-send") as pool:
        in_flight: deque[tuple[Batch, Future]] = deque()
        try:
            for batch in batches:
                in_flight.append((batch, pool.submit(send, batch)))
                while len(in_flight) >= window + 1 or (in_flight and in_flight[0][1].done()):
                    done, future = in_flight.popleft()
                    future.result()
                    acknowledged(done)
            while in_flight:
                done, future = in_flight.popleft()
                future.result()
                acknowledged(done)
        except BaseException:
            pool.shutdown(wait=True, cancel_futures=True)
            raise
