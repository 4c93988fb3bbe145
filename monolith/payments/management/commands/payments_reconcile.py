"""Compare this store's payments with another payments store's, by reconcile checksum.

Both sides list [id, checksum] in id order (GET /internal/v1/payments/sync/checksums/ there,
payment_checksums_page here), so the comparison is a streaming merge: memory stays flat however
many payments there are. Exit 0 when identical, 1 when they disagree, 2 when the target cannot
be reached or refuses.
"""

from __future__ import annotations

import sys
import time
import uuid
from collections.abc import Iterator
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from monolith.payments.checksums import MAX_PAGE, payment_checksum_totals, payment_checksums_page
from monolith.payments.sync_client import SyncTarget, SyncTargetError

EXIT_DIFFERENT, EXIT_UNREACHABLE = 1, 2


class Differences:
    def __init__(self) -> None:
        self.missing_there: list[str] = []
        self.missing_here: list[str] = []
        self.changed: list[str] = []
        self.counts = {"missing_there": 0, "missing_here": 0, "changed": 0}
        self.compared = 0

    def add(self, kind: str, payment_id: uuid.UUID, show: int) -> None:
        self.counts[kind] += 1
        listing = getattr(self, kind)
        if len(listing) < show:
            listing.append(str(payment_id))

    @property
    def any(self) -> bool:
        return any(self.counts.values())


def _local_rows() -> Iterator[tuple[uuid.UUID, str]]:
    after = None
    while True:
        rows, after = payment_checksums_page(after=after, limit=MAX_PAGE)
        for payment_id, checksum in rows:
            yield uuid.UUID(payment_id), checksum
        if after is None:
            return


class RemoteRows:
    """The target's rows, page by page; ``total``/``refund_total`` are known after the first page."""

    def __init__(self, client: SyncTarget, progress: Any) -> None:
        self.client, self.progress = client, progress
        self.total: int | None = None
        self.refund_total: int | None = None
        self.pages = 0

    def __iter__(self) -> Iterator[tuple[uuid.UUID, str]]:
        after: str | None = None
        previous: uuid.UUID | None = None
        while True:
            page = self.client.checksums_page(after=after, limit=MAX_PAGE)
            self.pages += 1
            if self.total is None:
                self.total, self.refund_total = page.get("total"), page.get("refund_total")
            for payment_id, checksum in page["rows"]:
                current = uuid.UUID(payment_id)
                if previous is not None and current <= previous:
                    raise SyncTargetError("the target does not list checksums in id order", refused=True)
                previous = current
                yield current, checksum
            self.progress(self.pages)
            after = page.get("next")
            if after is None:
                return


def _merge(here: Iterator[tuple[uuid.UUID, str]], there: Iterator[tuple[uuid.UUID, str]], show: int) -> Differences:
    diff = Differences()
    end = (None, None)
    mine, theirs = next(here, end), next(there, end)
    while mine[0] is not None or theirs[0] is not None:
        diff.compared += 1
        if theirs[0] is None or (mine[0] is not None and mine[0] < theirs[0]):
            diff.add("missing_there", mine[0], show)
            mine = next(here, end)
        elif mine[0] is None or theirs[0] < mine[0]:
            diff.add("missing_here", theirs[0], show)
            theirs = next(there, end)
        else:
            if mine[1] != theirs[1]:
                diff.add("changed", mine[0], show)
            mine, theirs = next(here, end), next(there, end)
    return diff


class Command(BaseCommand):
    help = "Compare every payment with another payments store by checksum; exit 0 equal, 1 different, 2 unreachable."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--target", required=True, help="base URL of the other store, e.g. http://127.0.0.1:8002")
        parser.add_argument("--show", type=int, default=20, help="ids listed per kind of difference")

    def _progress(self, pages: int) -> None:
        self.stderr.write(f"\rcompared {pages} page(s) of the target ", style_func=lambda x: x, ending="")
        self.stderr.flush()

    def handle(self, *args: Any, target: str, show: int, **options: Any) -> None:
        started = time.monotonic()
        local = payment_checksum_totals()
        client = SyncTarget(target)
        remote = RemoteRows(client, self._progress)
        try:
            diff = _merge(_local_rows(), iter(remote), max(show, 0))
        except SyncTargetError as exc:
            self.stderr.write("")
            raise CommandError(f"reconcile failed: {exc}", returncode=EXIT_UNREACHABLE) from exc
        finally:
            client.close()
        self.stderr.write("")
        out = self.stdout.write
        out(f"here:   {local['payments']} payments, {local['refunds']} refunds")
        out(f"target: {remote.total} payments, {remote.refund_total} refunds")
        labels = {"missing_there": "missing on the target", "missing_here": "missing here",
                  "changed": "checksum differs"}
        for kind, label in labels.items():
            count = diff.counts[kind]
            if count:
                shown = getattr(diff, kind)
                more = f" (first {len(shown)})" if count > len(shown) else ""
                out(f"{label}: {count}{more}")
                for payment_id in shown:
                    out(f"  {payment_id}")
        refunds_differ = remote.refund_total is not None and remote.refund_total != local["refunds"]
        seconds = time.monotonic() - started
        if diff.any or refunds_differ:
            out(f"DIFFERENT: {sum(diff.counts.values())} payment(s) disagree "
                f"({diff.compared} compared in {seconds:.2f}s)")
            sys.exit(EXIT_DIFFERENT)
        out(f"identical: {diff.compared} payments compared in {seconds:.2f}s")
