"""``strangler_reconcile <context> --target URL``: compare this store's rows of an extraction with
the other store's, by reconcile checksum.

Both sides list [id, checksum] in id order (GET <sync_path>checksums/ there, the kit's
checksums_page here), so the comparison is a streaming merge: memory stays flat however many rows
there are. Exit 0 when identical, 1 when they disagree, 2 when the target cannot be reached or refuses.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from typing import Any

from django.apps import apps
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils.module_loading import import_string

from strangler.django.extraction.checksums import MAX_PAGE, checksum_totals, checksums_page
from strangler.django.extraction.client import SyncTarget, SyncTargetError
from strangler.django.extraction.conflicts import conflict_count
from strangler.django.extraction.spec import ExtractionSpec, extraction_spec, target_audience

EXIT_DIFFERENT, EXIT_UNREACHABLE = 1, 2


class Differences:
    def __init__(self) -> None:
        self.missing_there: list[str] = []
        self.missing_here: list[str] = []
        self.changed: list[str] = []
        self.counts = {"missing_there": 0, "missing_here": 0, "changed": 0}
        self.compared = 0

    def add(self, kind: str, row_id: Any, show: int) -> None:
        self.counts[kind] += 1
        listing = getattr(self, kind)
        if len(listing) < show:
            listing.append(str(row_id))

    @property
    def any(self) -> bool:
        return any(self.counts.values())


def _local_rows(spec: ExtractionSpec) -> Iterator[tuple[Any, str]]:
    parse = spec.row_model()._meta.get_field(spec.id_field).to_python
    after = None
    while True:
        rows, after = checksums_page(spec, after=after, limit=MAX_PAGE)
        for row_id, checksum in rows:
            yield parse(row_id), checksum
        if after is None:
            return


class RemoteRows:
    """The target's rows, page by page; ``totals`` (by kind) are known after the first page."""

    def __init__(self, spec: ExtractionSpec, client: SyncTarget, progress: Any) -> None:
        self.spec, self.client, self.progress = spec, client, progress
        self.parse = spec.row_model()._meta.get_field(spec.id_field).to_python
        self.totals: dict[str, int | None] | None = None
        self.pages = 0

    def __iter__(self) -> Iterator[tuple[Any, str]]:
        after: str | None = None
        previous: Any = None
        while True:
            page = self.client.checksums_page(after=after, limit=MAX_PAGE)
            self.pages += 1
            if self.totals is None:
                self.totals = {self.spec.kind: page.get("total")} | {
                    child.kind: page.get(child.total_key) for child in self.spec.children}
            for row_id, checksum in page["rows"]:
                current = self.parse(row_id)
                if previous is not None and current <= previous:
                    raise SyncTargetError("the target does not list checksums in id order", refused=True)
                previous = current
                yield current, checksum
            self.progress(self.pages)
            after = page.get("next")
            if after is None:
                return


def _merge(here: Iterator[tuple[Any, str]], there: Iterator[tuple[Any, str]], show: int) -> Differences:
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
    help = ("Compare every row of an extraction (settings.STRANGLER_EXTRACTIONS) with the other store by checksum; "
            "exit 0 equal, 1 different, 2 unreachable.")
    context: str | None = None  # fixed by a context's alias command

    def add_arguments(self, parser: CommandParser) -> None:
        if self.context is None:
            parser.add_argument("extraction", help="the context's name in STRANGLER_EXTRACTIONS, e.g. payments")
        parser.add_argument("--target", required=True, help="base URL of the other store, e.g. http://127.0.0.1:8002")
        parser.add_argument("--show", type=int, default=20, help="ids listed per kind of difference")
        parser.add_argument("--audience", default="",
                            help="the target's name for internal credentials (default: the extraction's target_audience)")

    def _progress(self, pages: int) -> None:
        self.stderr.write(f"\rcompared {pages} page(s) of the target ", style_func=lambda x: x, ending="")
        self.stderr.flush()

    def handle(self, *args: Any, target: str, show: int, **options: Any) -> None:
        spec = extraction_spec(context=self.context or options["extraction"])
        started = time.monotonic()
        local = checksum_totals(spec)
        client = import_string(spec.target_client)(target, sync_path=spec.sync_path,
                                                   audience=target_audience(spec, options["audience"]))
        remote = RemoteRows(spec, client, self._progress)
        try:
            diff = _merge(_local_rows(spec), iter(remote), max(show, 0))
        except SyncTargetError as exc:
            self.stderr.write("")
            raise CommandError(f"reconcile failed: {exc}", returncode=EXIT_UNREACHABLE) from exc
        finally:
            client.close()
        self.stderr.write("")
        out = self.stdout.write
        theirs = remote.totals or {}
        out("here:   " + ", ".join(f"{local[kind]} {kind}" for kind in local))
        out("target: " + ", ".join(f"{theirs.get(kind)} {kind}" for kind in local))
        out(f"conflicts recorded here: {conflict_count(context=spec.context)}")
        if apps.is_installed("strangler.django.outbox"):
            from strangler.django.outbox.failures import dead_letters_count

            out(f"dead letters here: {dead_letters_count()} (manage.py strangler_dead_letters)")
        labels = {"missing_there": "missing on the target", "missing_here": "missing here",
                  "changed": "checksum differs"}
        for kind, label in labels.items():
            count = diff.counts[kind]
            if count:
                shown = getattr(diff, kind)
                more = f" (first {len(shown)})" if count > len(shown) else ""
                out(f"{label}: {count}{more}")
                for row_id in shown:
                    out(f"  {row_id}")
        children_differ = any(theirs.get(c.kind) is not None and theirs[c.kind] != local[c.kind] for c in spec.children)
        seconds = time.monotonic() - started
        if diff.any or children_differ:
            out(f"DIFFERENT: {sum(diff.counts.values())} of {spec.kind} disagree "
                f"({diff.compared} compared in {seconds:.2f}s)")
            sys.exit(EXIT_DIFFERENT)
        out(f"identical: {diff.compared} {spec.kind} compared in {seconds:.2f}s")
