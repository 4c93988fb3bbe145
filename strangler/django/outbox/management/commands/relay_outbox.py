"""Publish outbox messages through Celery: once, or in a loop (the relay process of `make run`)."""

import time

from django.conf import settings
from django.core.management.base import BaseCommand

from strangler.django.outbox.acks import deliveries_resend_due
from strangler.django.outbox.failures import consumer_retries_send_due
from strangler.django.outbox.replay import OutageReplay
from strangler.django.outbox.services import outbox_pending_count, outbox_publish_pending
from strangler.django.tracing import tracing_setup


class Command(BaseCommand):
    help = "Publish pending outbox events to the broker."

    def add_arguments(self, parser):
        parser.add_argument("--loop", action="store_true", help="keep relaying until stopped")
        parser.add_argument("--interval", type=float, default=0.2, help="seconds between polls")

    def handle(self, *args, **options):
        # Each message is published in its event's trace (strangler.django.tracing); no-op when tracing is off.
        tracing_setup(f"{getattr(settings, 'TRACING_SERVICE_NAME', 'django')}-relay")
        total = 0
        replay = OutageReplay()  # after a broker outage, what a worker may have lost is sent again
        while True:
            try:
                sent = outbox_publish_pending(on_broker_error=replay.broker_failed)
                replayed = replay.after_round()
                resent = deliveries_resend_due()  # what no consumer acknowledged in time (acks.py)
                consumer_retries_send_due()  # failed consumers whose next attempt is due (failures.py)
            except Exception as exc:  # database briefly locked or down, broker down: keep the loop alive
                self.stderr.write(f"relay round failed: {exc}")
                sent = replayed = resent = 0
            if replayed:
                self.stdout.write(f"broker back: re-published {replayed} events of the outage window")
            if resent:
                self.stdout.write(f"re-sent {resent} unacknowledged deliveries")
            total += sent
            if sent:
                self.stdout.write(f"published {sent} (total {total}, pending {outbox_pending_count()})")
            if not options["loop"]:
                break
            if not sent:
                time.sleep(options["interval"])
        self.stdout.write(self.style.SUCCESS(f"relay done: {total} published"))
