"""Dead letters: events a consumer could not apply (after its bounded retries, or at once when it
said the envelope can never be applied). List them (exit 1 when any), or retry or discard some."""

from __future__ import annotations

import sys
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from strangler.django.outbox.failures import dead_letters_count, dead_letters_discard, dead_letters_retry
from strangler.django.outbox.models import ConsumerFailure


class Command(BaseCommand):
    help = ("List dead letters (exit 1 when any); --retry gives them a fresh round of attempts from now "
            "(the relay hands them to a worker), --discard deletes them. Both take ids, or 'all'.")

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--show", type=int, default=20, help="letters listed")
        action = parser.add_mutually_exclusive_group()
        action.add_argument("--retry", nargs="+", metavar="ID", help="dead letters to retry, or 'all'")
        action.add_argument("--discard", nargs="+", metavar="ID", help="dead letters to delete, or 'all'")

    def handle(self, *args: Any, show: int, retry: list[str] | None, discard: list[str] | None,
               **options: Any) -> None:
        if retry or discard:
            ids = _ids(retry or discard or [])
            if retry:
                self.stdout.write(f"retrying {dead_letters_retry(ids=ids)} dead letter(s) from now")
            else:
                self.stdout.write(f"discarded {dead_letters_discard(ids=ids)} dead letter(s)")
            return
        total = dead_letters_count()
        retrying = ConsumerFailure.objects.filter(next_attempt_at__isnull=False).count()
        self.stdout.write(f"dead letters: {total} (and {retrying} failing consumer(s) still being retried)")
        for letter in ConsumerFailure.objects.filter(next_attempt_at__isnull=True).order_by("-last_failed_at",
                                                                                             "-id")[:max(show, 0)]:
            self.stdout.write(f"  #{letter.id} {letter.event_type} {letter.event_id} -> {letter.consumer}: "
                              f"{letter.attempts} attempt(s) {letter.first_failed_at:%Y-%m-%dT%H:%M:%S} .. "
                              f"{letter.last_failed_at:%Y-%m-%dT%H:%M:%S}: {letter.error[:200]}")
        if total:
            sys.exit(1)


def _ids(values: list[str]) -> list[int] | None:
    if values == ["all"]:
        return None
    if not all(v.isdigit() for v in values):
        raise CommandError("give dead-letter ids (numbers, as listed) or 'all'")
    return [int(v) for v in values]
