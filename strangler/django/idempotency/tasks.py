"""Celery task of the idempotency keys: forget the keys older than ``IDEMPOTENCY_TTL_HOURS``."""

from celery import shared_task

from strangler.django.idempotency.services import idempotency_purge as keys_purge


@shared_task(name="kernel.idempotency_purge")
def idempotency_purge() -> int:
    return keys_purge()
