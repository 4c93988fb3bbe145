"""``strangler_backfill <context> --target URL``: copy every row of an extraction (with its children
and extra exports) to the other store through its sync import, in pipelined batches, resumable
from a checkpoint, with a progress line and a rows/s summary."""

from __future__ import annotations

import time
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils.module_loading import import_string

from strangler.django.extraction.backfill import (
    PHASE_DONE,
    Batch,
    Position,
    Progress,
    extra_batches,
    pipelined,
    row_batches,
)
from strangler.django.extraction.client import SyncTargetError
from strangler.django.extraction.export import export_totals
from strangler.django.extraction.models import BackfillCheckpoint
from strangler.django.extraction.spec import extraction_spec, target_audience

MAX_BATCH = 10_000


class Command(BaseCommand):
    help = "Copy every row of an extraction (settings.STRANGLER_EXTRACTIONS) to the other store."
    context: str | None = None  # fixed by a context's alias command

    def add_arguments(self, parser: CommandParser) -> None:
        if self.context is None:
            parser.add_argument("extraction", help="the context's name in STRANGLER_EXTRACTIONS, e.g. payments")
        parser.add_argument("--target", required=True, help="base URL of the target, e.g. http://127.0.0.1:8002")
        parser.add_argument("--batch-size", type=int, default=5000, help=f"rows per request (1-{MAX_BATCH})")
        parser.add_argument("--restart", action="store_true", help="forget the checkpoint and copy everything again")
        parser.add_argument("--in-flight", type=int, default=2, help="batches sent concurrently (1-8)")
        parser.add_argument("--audience", default="",
                            help="the target's name for internal credentials (default: the extraction's target_audience)")

    def _progress_write(self, text: str) -> None:
        self.stderr.write(text, style_func=lambda x: x, ending="")
        self.stderr.flush()

    def handle(self, *args: Any, target: str, batch_size: int, restart: bool, in_flight: int, **options: Any) -> None:
        spec = extraction_spec(context=self.context or options["extraction"])
        if not 1 <= batch_size <= MAX_BATCH:
            raise CommandError(f"--batch-size must be 1-{MAX_BATCH}")
        if not 1 <= in_flight <= 8:
            raise CommandError("--in-flight must be 1-8")
        target = target.rstrip("/")
        checkpoints = BackfillCheckpoint.objects
        checkpoint, _ = checkpoints.get_or_create(name=f"{spec.context}_backfill:{target}"[:200])
        position = Position.start(spec) if restart else Position.load(spec, checkpoint.position)
        if position.phase == PHASE_DONE:
            self.stdout.write(f"backfill to {target} already complete ({checkpoint.copied} rows); "
                              "use --restart to copy everything again")
            return
        if restart or not checkpoint.position:
            checkpoint.position, checkpoint.copied = position.dump(), 0
            checkpoint.save()
        elif position.after is not None:
            self.stderr.write(f"resuming after {position.phase} {position.after} ({checkpoint.copied} rows copied)")

        phases = [spec.kind, *(e.kind for e in spec.extra_exports)]  # children travel with their rows
        totals = export_totals(spec)
        left = sum(totals[k] for k in phases) - sum(position.counts[k] for k in phases)
        progress = Progress(self._progress_write, max(left, 0))
        copied = dict.fromkeys(spec.kinds, 0)
        client = import_string(spec.target_client)(target, sync_path=spec.sync_path,
                                                   audience=target_audience(spec, options["audience"]))
        origin = spec.origin()
        started = time.monotonic()

        def send(batch: Batch) -> Any:
            return client.import_batch(batch.encode(spec, origin))

        def acknowledged(batch: Batch) -> None:
            sizes = batch.sizes()
            for kind, n in sizes.items():
                copied[kind] += n
                position.counts[kind] += n
            position.phase, position.after = batch.phase, batch.last
            checkpoint.position, checkpoint.copied = position.dump(), checkpoint.copied + sum(sizes.values())
            checkpoint.save(update_fields=["position", "copied", "updated_at"])
            progress.add(sum(n for kind, n in sizes.items() if kind in phases))

        try:
            for index in range(phases.index(position.phase), len(phases)):
                phase = phases[index]
                after = position.after if phase == position.phase else None
                batches = row_batches(spec, after, batch_size) if index == 0 else extra_batches(spec, phase, after,
                                                                                               batch_size)
                pipelined(batches, send, acknowledged, in_flight)
                if index + 1 < len(phases):
                    position.phase, position.after = phases[index + 1], None
                    checkpoint.position = position.dump()
                    checkpoint.save(update_fields=["position", "updated_at"])
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
        counts = ", ".join(f"{copied[kind]} {kind.replace('_', ' ')}" for kind in spec.kinds)
        self.stdout.write(f"backfill to {target} complete: {counts} copied in {seconds:.2f}s "
                          f"({rows / max(seconds, 1e-6):,.0f} rows/s)")
