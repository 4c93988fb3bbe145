"""Drive checkouts that stopped mid-saga (a crash, a lost worker) forward, or compensate them."""

import datetime as dt

from django.core.management.base import BaseCommand, CommandError

from monolith.orders.selectors import sagas_stale
from monolith.orders.services import order_checkout_resume


class Command(BaseCommand):
    help = ("Resume or compensate checkout sagas stuck in a non-terminal step. Every stale checkout is "
            "tried; exit status 1 when any could not be resumed (each is named on stderr).")

    def add_arguments(self, parser):
        parser.add_argument("--older-than", type=float, default=60.0,
                            help="only sagas untouched for this many seconds (default 60)")

    def handle(self, *args, **options):
        order_ids = sagas_stale(older_than=dt.timedelta(seconds=options["older_than"]))
        failed = 0
        for order_id in order_ids:
            try:
                order = order_checkout_resume(order_id=order_id)
            except Exception as exc:  # one broken saga must not stop the others; the next run retries it
                failed += 1
                self.stderr.write(f"order {order_id}: resume failed: {exc!r}")
                continue
            self.stdout.write(f"order {order_id}: {order.status}")
        self.stdout.write(f"resumed {len(order_ids) - failed} of {len(order_ids)} checkouts")
        if failed:
            raise CommandError(f"{failed} of {len(order_ids)} checkouts could not be resumed; the next run tries again")
