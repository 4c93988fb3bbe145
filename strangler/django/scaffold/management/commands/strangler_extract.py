"""``manage.py strangler_extract CONTEXT --to DIR``: scaffold the service of one bounded context
(strangler.django.scaffold). It refuses a folder that is not empty and an unknown context, and
then writes nothing."""

from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError, CommandParser

from strangler.django.scaffold.plan import DEFAULT_PORT
from strangler.django.scaffold.report import patch, summary
from strangler.django.scaffold.services import ScaffoldError, service_scaffold


class Command(BaseCommand):
    help = "Scaffold a service for one bounded context (an installed app label) of this monolith."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("context", help="the context's app label, e.g. catalog")
        parser.add_argument("--to", required=True, type=Path, help="the service folder to create, e.g. extracted/catalog")
        parser.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"the service's port (default {DEFAULT_PORT})")

    def handle(self, *args: object, context: str, to: Path, port: int, **options: object) -> None:
        try:
            result = service_scaffold(label=context, out=to, port=port)
        except ScaffoldError as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(patch(result))
        self.stdout.write(summary(result))  # last: what was written, file by file, with line counts
