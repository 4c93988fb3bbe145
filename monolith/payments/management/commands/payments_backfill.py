"""Copy this store's payments (with refunds) and completed payments idempotency records to another
payments store, through its POST /internal/v1/payments/sync/import/.

Resumable: a SyncCheckpoint (one per target) records the last key the target acknowledged, so a
crashed or refused run continues where it stopped. Re-sending a batch is harmless (the import
upserts under the sync merge rule). Reading the next batch overlaps sending the current one.
"""

from __future__ import annotations

import json
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from monolith.payments.models import SyncCheckpoint
from monolith.payments.sync_client import SyncTarget, SyncTargetError
from monolith.payments.sync_export import export_totals, idempotency_export_page, payments_export_page

MAX_BATCH = 10_000
PHASE_PAYMENTS, PHASE_IDEMPOTENCY, PHASE_DONE = "payments", "idempotency_records", "done"


@dataclass
class Position:
    """What the checkpoint stores (as JSON in SyncCheckpoint.position)."""

    phase: str = PHASE_PAYMENTS
    after: str | int | None = None
    counts: dict[str, int] = field(default_factory=lambda: {"payments": 0, "refunds": 0, "idempotency_records": 0})

    @classmethod
    def load(cls, text: str) -> Position:
        if not text:
            return cls()
        data = json.loads(text)
        return cls(phase=data["phase"], after=data["after"], counts=data["counts"])

    def dump(self) -> str:
        return json.dumps({"phase": self.phase, "after": self.after, "counts": self.counts})


@dataclass
class Batch:
    phase: str
    last: str | int
    payments: list[dict] = field(default_factory=list)
    refunds: list[dict] = field(default_factory=list)
    idempotency_records: list[dict] = field(default_factory=list)

    def encode(self) -> bytes:
        return json.dumps({"payments": self.payments, "refunds": self.refunds,
                           "idempotency_records": self.idempotency_records}, separators=(",", ":")).encode()


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


def _payment_batches(after: str | None, size: int) -> Iterator[Batch]:
    cursor = uuid.UUID(after) if after else None
    while True:
        payments, refunds = payments_export_page(after=cursor, limit=size)
        if not payments:
            return
        cursor = uuid.UUID(payments[-1]["id"])
        yield Batch(phase=PHASE_PAYMENTS, last=str(cursor), payments=payments, refunds=refunds)


def _idempotency_batches(after: int | None, size: int) -> Iterator[Batch]:
    cursor = after or 0
    while True:
        records, last = idempotency_export_page(after=cursor, limit=size)
        if last is None:
            return
        cursor = last
        yield Batch(phase=PHASE_IDEMPOTENCY, last=last, idempotency_records=records)


def _pipelined(batches: Iterator[Batch], send: Callable[[Batch], Any], acknowledged: Callable[[Batch], None],
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


class Command(BaseCommand):
    help = "Copy every payment, refund and completed payments idempotency record to another payments store."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--target", required=True, help="base URL of the target, e.g. http://127.0.0.1:8002")
        parser.add_argument("--batch-size", type=int, default=5000, help=f"payments per request (1-{MAX_BATCH})")
        parser.add_argument("--restart", action="store_true", help="forget the checkpoint and copy everything again")
        parser.add_argument("--in-flight", type=int, default=2, help="batches sent concurrently (1-8)")

    def _progress_write(self, text: str) -> None:
        self.stderr.write(text, style_func=lambda x: x, ending="")
        self.stderr.flush()

    def handle(self, *args: Any, target: str, batch_size: int, restart: bool, in_flight: int, **options: Any) -> None:
        if not 1 <= batch_size <= MAX_BATCH:
            raise CommandError(f"--batch-size must be 1-{MAX_BATCH}")
        if not 1 <= in_flight <= 8:
            raise CommandError("--in-flight must be 1-8")
        target = target.rstrip("/")
        checkpoint, _ = SyncCheckpoint.objects.get_or_create(name=f"payments_backfill:{target}"[:200])
        position = Position() if restart else Position.load(checkpoint.position)
        if position.phase == PHASE_DONE:
            self.stdout.write(f"backfill to {target} already complete ({checkpoint.copied} rows); "
                              "use --restart to copy everything again")
            return
        if restart or not checkpoint.position:
            checkpoint.position, checkpoint.copied = position.dump(), 0
            checkpoint.save()
        elif position.after is not None:
            self.stderr.write(f"resuming after {position.phase} {position.after} ({checkpoint.copied} rows copied)")

        totals = export_totals()
        done_before = position.counts["payments"] + position.counts["idempotency_records"]
        progress = Progress(self._progress_write, max(totals["payments"] + totals["idempotency_records"] - done_before, 0))
        copied = {"payments": 0, "refunds": 0, "idempotency_records": 0}
        client = SyncTarget(target)
        started = time.monotonic()

        def send(batch: Batch) -> Any:
            return client.import_batch(batch.encode())

        def acknowledged(batch: Batch) -> None:
            sizes = {"payments": len(batch.payments), "refunds": len(batch.refunds),
                     "idempotency_records": len(batch.idempotency_records)}
            for kind, n in sizes.items():
                copied[kind] += n
                position.counts[kind] += n
            position.phase, position.after = batch.phase, batch.last
            checkpoint.position, checkpoint.copied = position.dump(), checkpoint.copied + sum(sizes.values())
            checkpoint.save(update_fields=["position", "copied", "updated_at"])
            progress.add(sizes["payments"] + sizes["idempotency_records"])

        try:
            if position.phase == PHASE_PAYMENTS:
                _pipelined(_payment_batches(position.after, batch_size), send, acknowledged, in_flight)
                position.phase, position.after = PHASE_IDEMPOTENCY, None
                checkpoint.position = position.dump()
                checkpoint.save(update_fields=["position", "updated_at"])
            _pipelined(_idempotency_batches(position.after, batch_size), send, acknowledged, in_flight)
        except SyncTargetError as exc:
            progress.finish()
            what = "refused the batch" if exc.refused else "could not be reached"
            raise CommandError(f"backfill stopped: the target {what}: {exc}. {checkpoint.copied} rows are "
                               "acknowledged; rerun the same command to resume.") from exc
        finally:
            client.close()
        progress.finish()
        position.phase, position.after = PHASE_DONE, None
        checkpoint.position = position.dump()
        checkpoint.save(update_fields=["position", "updated_at"])
        seconds = time.monotonic() - started
        rows = sum(copied.values())
        self.stdout.write(f"backfill to {target} complete: {copied['payments']} payments, {copied['refunds']} refunds, "
                          f"{copied['idempotency_records']} idempotency records copied in {seconds:.2f}s "
                          f"({rows / max(seconds, 1e-6):,.0f} rows/s)")
