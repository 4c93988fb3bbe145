"""Background work of orders: a periodic sweep finds stuck checkouts and resumes each by id."""

import datetime as dt
import logging

from celery import shared_task

from monolith.orders.selectors import sagas_stale
from monolith.orders.services import order_checkout_resume
from monolith.payments.interface import PaymentsUnavailable

logger = logging.getLogger(__name__)
STALE_AFTER = dt.timedelta(seconds=60)


@shared_task(name="orders.checkout_resume", acks_late=True)
def checkout_resume(order_id: str) -> str:
    """The order's status after the attempt. Payments being down is not a task failure: the saga
    stays resumable and the next sweep tries again."""
    try:
        return order_checkout_resume(order_id=order_id).status
    except PaymentsUnavailable as exc:
        logger.warning("checkout of order %s waits for payments: %s", order_id, exc.message)
        return "payments_unavailable"


@shared_task(name="orders.checkouts_resume_stale")
def checkouts_resume_stale() -> int:
    """Enqueue one resume per stale saga; each resume is idempotent, so overlapping sweeps are harmless."""
    order_ids = sagas_stale(older_than=STALE_AFTER)
    for order_id in order_ids:
        checkout_resume.delay(str(order_id))
    return len(order_ids)
