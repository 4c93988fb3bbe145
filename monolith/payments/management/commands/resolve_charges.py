"""Ask the processor again about charges whose outcome is unknown (the beat task's sweep, by hand)."""

import datetime as dt

from django.core.management.base import BaseCommand, CommandError

from monolith.payments.services import charges_resolve_unknown


class Command(BaseCommand):
    help = "Settle pending charges whose processor answer was lost, asking again with the same key."

    def add_arguments(self, parser):
        parser.add_argument("--older-than", type=float, default=60.0,
                            help="only charges untouched for this many seconds (default 60)")

    def handle(self, *args, **options):
        asked = charges_resolve_unknown(older_than=dt.timedelta(seconds=options["older_than"]))
        for payment in asked:
            self.stdout.write(f"payment {payment.id}: {payment.status}")
        unknown = sum(1 for payment in asked if payment.status == "pending")
        self.stdout.write(f"asked about {len(asked)} charge(s); {unknown} still unknown")
        if unknown:
            raise CommandError(f"{unknown} charge(s) still have an unknown outcome")
