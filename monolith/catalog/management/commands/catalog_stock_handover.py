"""Move the catalog's stock between the monolith and the catalog service (monolith/catalog/handover.py).

    manage.py catalog_stock_handover --to service|monolith     # run again to finish one cut short
    manage.py catalog_stock_handover --abort                     # reopen a fenced owner (before the commit point)
    manage.py catalog_stock_handover --status

The service is reached at ``--target URL`` (default CATALOG_SERVICE_URL) with the monolith's internal
credential. ``deploy/cutover.py --context catalog`` runs it around the service step.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from monolith.catalog.handover import LocalSide, RemoteSide, stock_handover, stock_handover_abort
from monolith.catalog.remote import CatalogClient
from strangler.django.errors import DomainError
from strangler.django.remote_client import settings_client


class Command(BaseCommand):
    help = "Hand the catalog's stock over between the monolith and the catalog service, fenced (no oversell)."

    def add_arguments(self, parser: Any) -> None:
        action = parser.add_mutually_exclusive_group(required=True)
        action.add_argument("--to", choices=["service", "monolith"], help="the side that will own the stock")
        action.add_argument("--abort", action="store_true", help="reopen the fenced side of an unfinished handover")
        action.add_argument("--status", action="store_true", help="print each side's custody")
        parser.add_argument("--target", help="the catalog service's URL (default: CATALOG_SERVICE_URL)")

    def handle(self, *args: Any, **options: Any) -> None:
        client = settings_client(CatalogClient, prefix="CATALOG").get()  # its own breaker, not the web's
        if options["target"]:
            client.base_url = options["target"].rstrip("/")
        monolith, service = LocalSide(), RemoteSide(client=client)
        try:
            if options["status"]:
                for side in (monolith, service):
                    state = side.state()
                    self.stdout.write(f"{side.name}: {state['state']} (handover {state['epoch']})")
                return
            if options["abort"]:
                fenced, receiving = (monolith, service) if monolith.state()["state"] == "fenced" else (service, monolith)
                epoch = stock_handover_abort(fenced=fenced, receiving=receiving)
                self.stdout.write("nothing to abort: no side is fenced" if epoch is None
                                  else f"handover {epoch} aborted: {fenced.name} owns the stock again")
                return
            source, target = (monolith, service) if options["to"] == "service" else (service, monolith)
            summary = stock_handover(source=source, target=target, progress=self.stdout.write)
        except DomainError as exc:
            raise CommandError(f"{exc.code}: {exc.message}") from exc
        self.stdout.write(self.style.SUCCESS(
            f"{summary.owner} owns the stock (handover {summary.epoch}): {summary.levels} stocked products, "
            f"{summary.on_hand} on hand, {summary.reserved} reserved, {summary.reservations} reservations, "
            f"fenced {summary.fenced_seconds:.2f} s"))
