"""Signals of the idempotency keys.

``record_completed(sender=IdempotencyRecord, record=...)`` is sent inside the transaction that
stores a key's answer, so a receiver can record an outbox event with it (a context's sync carries
its completed answers to the other store: a replay after the cut answers the same there).
"""

from django.dispatch import Signal

record_completed = Signal()
