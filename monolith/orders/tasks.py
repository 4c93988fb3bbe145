"""Background work of orders: a periodic sweep finds stuck checkouts and resumes each by id."""

import datetime as dt

from celery import shared_task

from monolith.orders.selectors import sagas_stale
from monolith.orders.services import order_checkout_resume

STALE_AFTER = dt.timedelta(seconds=60)


@shared_task(name="orders.checkout_resume", acks_late=True)
def checkout_resume(order_id: str) -> str:
    return order_checkout_resume(order_id=order_id).status


@shared_task(name="orders.checkouts_resume_stale")
def checkouts_resume_stale() -> int:
    """Enqueue one resume per stale saga; each resume is idempotent, so overlapping sweeps are harmless."""
    order_ids = sagas_stale(older_than=STALE_AFTER)
    for order_id in order_ids:
        checkout_resume.delay(str(order_id))
    return len(order_ids)
