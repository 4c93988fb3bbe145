"""Sending notification emails, and recording each attempt.

Delivery policy: a notification is attempted once per event. A send error (SMTP down, unknown
user, bad address) is recorded with status "failed" and the error text, and is NOT raised: the
event counts as handled, so the worker does not retry it. Why not retry: an SMTP error can come
after the server accepted the message, so retrying risks a duplicate mail; failed rows are the
to-do list for an operator (or a later resend job), and nothing upstream (checkout) ever waits on
or fails because of a notification.
"""

from __future__ import annotations

import logging
import uuid

from django.conf import settings
from django.core.mail import send_mail
from django.db import IntegrityError, transaction

from monolith.kernel.money import CURRENCIES
from monolith.notifications.models import Notification
from monolith.users.interface import user_get

logger = logging.getLogger(__name__)

_ERROR_MAX = 2000


def amount_format(*, amount_minor: int, currency: str) -> str:
    """Minor units to a readable amount (1234, EUR → 12.34 EUR), per the kernel's currency table."""
    exponent = CURRENCIES.get(currency, 2)
    if exponent == 0:
        return f"{amount_minor} {currency}"
    units, minor = divmod(amount_minor, 10**exponent)
    return f"{units}.{minor:0{exponent}d} {currency}"


def notification_send(
    *, event_id: uuid.UUID, user_id: uuid.UUID, kind: str, subject: str, body: str
) -> Notification:
    """Mail ``user_id`` once for ``event_id``; return the record, sent or failed.

    A second call with the same event id returns the first record without sending.
    """
    existing = Notification.objects.filter(event_id=event_id).first()
    if existing is not None:
        return existing
    record = Notification(event_id=event_id, user_id=user_id, kind=kind, subject=subject)
    user = user_get(user_id=user_id)
    if user is None:
        record.status, record.error = Notification.Status.FAILED, f"unknown user {user_id}"
    else:
        record.to = user.email
        try:
            send_mail(subject, body, settings.DEFAULT_FROM_EMAIL, [user.email], fail_silently=False)
        except Exception as exc:  # noqa: BLE001 - any delivery failure is recorded, never raised
            logger.warning("notification %s for event %s failed: %s", kind, event_id, exc)
            record.status, record.error = Notification.Status.FAILED, f"{type(exc).__name__}: {exc}"[:_ERROR_MAX]
        else:
            record.status = Notification.Status.SENT
    try:
        with transaction.atomic():
            record.save(force_insert=True)
    except IntegrityError:  # a concurrent delivery recorded it first
        return Notification.objects.get(event_id=event_id)
    return record


def notification_order_confirmed(
    *, event_id: uuid.UUID, user_id: uuid.UUID, order_id: uuid.UUID, total_minor: int, currency: str
) -> Notification:
    total = amount_format(amount_minor=total_minor, currency=currency)
    return notification_send(
        event_id=event_id,
        user_id=user_id,
        kind=Notification.Kind.ORDER_CONFIRMED,
        subject=f"Your order {order_id} is confirmed",
        body=f"Thank you! Your order {order_id} is confirmed and paid.\n\nTotal: {total}\n",
    )


def notification_payment_failed(
    *, event_id: uuid.UUID, user_id: uuid.UUID, order_id: uuid.UUID, amount_minor: int, currency: str,
    reason: str,
) -> Notification:
    amount = amount_format(amount_minor=amount_minor, currency=currency)
    return notification_send(
        event_id=event_id,
        user_id=user_id,
        kind=Notification.Kind.PAYMENT_FAILED,
        subject=f"Payment for order {order_id} failed",
        body=(
            f"We could not take the payment of {amount} for order {order_id} ({reason}).\n"
            "Nothing was charged. You can try again with another card.\n"
        ),
    )
