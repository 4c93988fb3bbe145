"""Background work of payments: the sweeps that settle charges and refunds whose processor answer
was lost."""

import datetime as dt
import logging

from celery import shared_task

from monolith.payments.models import RefundAttempt
from monolith.payments.services import charges_resolve_unknown as resolve
from monolith.payments.services import refunds_resolve_unknown as resolve_refunds

logger = logging.getLogger(__name__)
# A pending charge untouched this long has no caller retrying it any more (the API answers 202 with
# Retry-After: 2; a checkout's own sweep runs every 30 s).
STALE_AFTER = dt.timedelta(seconds=60)


@shared_task(name="payments.charges_resolve_unknown")
def charges_resolve_unknown() -> int:
    """How many pending charges were asked about again (the same processor key each time)."""
    asked = resolve(older_than=STALE_AFTER)
    still = sum(1 for payment in asked if payment.status == "pending")
    if still:
        logger.warning("%d charge(s) still have an unknown outcome: the processor did not answer", still)
    return len(asked)


@shared_task(name="payments.refunds_resolve_unknown")
def refunds_resolve_unknown() -> int:
    """How many refunds whose answer was lost were recorded (asked again with the same key)."""
    done = resolve_refunds(older_than=STALE_AFTER)
    still = sum(1 for item in done if isinstance(item, RefundAttempt))
    if still:
        logger.warning("%d refund(s) still have an unknown outcome: the processor did not answer", still)
    return len(done) - still
