"""Sending notification emails, recording each, and sending a failed one again.

Delivery policy: a notification is sent once per event. A send error (SMTP down, a refused
address) is recorded with status "failed", the error text and the time of the next attempt, and is
NOT raised: the event counts as handled, so nothing upstream (checkout) ever waits on or fails
because of a notification. The resend sweep (tasks.notifications_resend_due) tries a failed mail
again with a doubling backoff, up to MAX_ATTEMPTS attempts in all; then it stays failed, with no
next attempt, for a person. An unknown user is not retried. A retry can duplicate a mail whose SMTP
error came after the server accepted it: a rare second mail beats a lost one.

No network call inside a transaction, and a claim before every send: the first delivery of an
event commits its row as "sending", with its next attempt CLAIM_SECONDS out, before it calls the mail
server; a second delivery of that event (a redelivery after the broker's visibility timeout, while
the first is still sending) finds the row and sends nothing. A resend claims its row the same way
(a conditional UPDATE), so two sweeps never send one mail twice at once. A send cut short by a crash
leaves its row "sending": an unknown outcome, which the sweep finishes once the claim has run out.
That can repeat a mail the server had already taken, so every notification goes out under one
Message-ID of its own and a repeat is the same message again, which mail clients show once.
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid

from django.conf import settings
from django.core.mail import EmailMessage
from django.db import IntegrityError, transaction
from django.utils import timezone

from monolith.kernel.money import CURRENCIES
from monolith.notifications.models import Notification
from monolith.users.interface import user_get

logger = logging.getLogger(__name__)

_ERROR_MAX = 2000
MAX_ATTEMPTS = 5
FIRST_RETRY = dt.timedelta(minutes=1)  # then 2, 4, 8 minutes
CLAIM_SECONDS = 300  # a resend in progress holds its row this long (far longer than a send may take)


def amount_format(*, amount_minor: int, currency: str) -> str:
    """Minor units to a readable amount (1234, EUR → 12.34 EUR), per the kernel's currency table."""
    exponent = CURRENCIES.get(currency, 2)
    if exponent == 0:
        return f"{amount_minor} {currency}"
    units, minor = divmod(amount_minor, 10**exponent)
    return f"{units}.{minor:0{exponent}d} {currency}"


def _message_id(record: Notification) -> str:
    """The notification's own Message-ID: every attempt at it sends the same message."""
    return f"<notification-{record.pk}@{settings.DEFAULT_FROM_EMAIL.rpartition('@')[2] or 'localhost'}>"


def _deliver(record: Notification, body: str) -> None:
    """Send ``record``'s mail; set its status, error and next attempt (not saved)."""
    try:
        EmailMessage(record.subject, body, settings.DEFAULT_FROM_EMAIL, [record.to],
                     headers={"Message-ID": _message_id(record)}).send(fail_silently=False)
    except Exception as exc:  # noqa: BLE001 - any delivery failure is recorded, never raised
        logger.warning("notification %s for event %s failed (attempt %s): %s", record.kind, record.event_id,
                       record.attempts, exc)
        record.status, record.error = Notification.Status.FAILED, f"{type(exc).__name__}: {exc}"[:_ERROR_MAX]
        retry = record.attempts < MAX_ATTEMPTS
        record.next_attempt_at = timezone.now() + FIRST_RETRY * 2 ** (record.attempts - 1) if retry else None
    else:
        record.status, record.error, record.next_attempt_at = Notification.Status.SENT, "", None


def notification_send(
    *, event_id: uuid.UUID, user_id: uuid.UUID, kind: str, subject: str, body: str
) -> Notification:
    """Mail ``user_id`` once for ``event_id``; return the record, sent or failed.

    A second call with the same event id returns the first record without sending.
    """
    existing = Notification.objects.filter(event_id=event_id).first()
    if existing is not None:
        return existing
    record = Notification(event_id=event_id, user_id=user_id, kind=kind, subject=subject, body=body)
    user = user_get(user_id=user_id)
    if user is None:  # not retried: the user will not appear later
        record.status, record.error = Notification.Status.FAILED, f"unknown user {user_id}"
    else:
        record.to, record.status = user.email, Notification.Status.SENDING
        record.next_attempt_at = timezone.now() + dt.timedelta(seconds=CLAIM_SECONDS)
    try:
        with transaction.atomic():
            record.save(force_insert=True)  # the claim, committed before any call out
    except IntegrityError:  # a concurrent delivery claimed it first
        return Notification.objects.get(event_id=event_id)
    if record.status == Notification.Status.SENDING:
        _deliver(record, body)
        record.save(update_fields=["status", "error", "next_attempt_at"])
    return record


def notification_resend(*, notification_id: uuid.UUID) -> Notification:
    """Send a failed notification, or one whose send was cut short, again if it is due; the record
    as it stands after."""
    now = timezone.now()
    claimed = Notification.objects.filter(
        pk=notification_id, status__in=Notification.RESENDABLE, next_attempt_at__lte=now,
    ).update(status=Notification.Status.SENDING, next_attempt_at=now + dt.timedelta(seconds=CLAIM_SECONDS))
    record = Notification.objects.get(pk=notification_id)
    if not claimed:
        return record  # sent, given up, not due, or another sweep holds it
    record.attempts += 1
    _deliver(record, record.body)
    record.save(update_fields=["status", "error", "attempts", "next_attempt_at"])
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
