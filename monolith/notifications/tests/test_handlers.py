import uuid

import pytest
from django.core import mail

from monolith.notifications.handlers import ORDER_CONFIRMED_CONSUMER, PAYMENT_FAILED_CONSUMER
from monolith.notifications.models import Notification
from monolith.notifications.services import amount_format
from monolith.orders.events import OrderConfirmed
from monolith.payments.events import PaymentFailed
from strangler.django.events import event_envelope
from strangler.django.outbox import bus
from strangler.django.outbox.models import ConsumerFailure, InboxMessage
from strangler.django.outbox.tasks import dispatch_event

pytestmark = pytest.mark.django_db


def _order_confirmed(user_id, **overrides):
    fields = {"order_id": uuid.uuid4(), "user_id": user_id, "total_minor": 4299, "currency": "EUR",
              "payment_id": uuid.uuid4()} | overrides
    return event_envelope(OrderConfirmed(**fields))


def _payment_failed(user_id):
    return event_envelope(PaymentFailed(payment_id=uuid.uuid4(), order_id=uuid.uuid4(), user_id=user_id,
                                        amount_minor=1500, currency="EUR", reason="card_declined"))


def test_order_confirmed_dispatched_twice_sends_exactly_one_mail(user):
    envelope = _order_confirmed(user.id)
    assert bus.dispatch(envelope) == 1
    assert bus.dispatch(envelope) == 0  # redelivery: the inbox skips it

    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == [user.email]
    assert envelope["payload"]["order_id"] in message.subject
    assert "confirmed" in message.subject
    assert "42.99 EUR" in message.body
    notification = Notification.objects.get()
    assert (notification.status, notification.kind, notification.to) == ("sent", "order_confirmed", user.email)
    assert str(notification.event_id) == envelope["event_id"]
    assert InboxMessage.objects.filter(event_id=envelope["event_id"], consumer=ORDER_CONFIRMED_CONSUMER).count() == 1


def test_two_different_events_send_two_mails(user):
    bus.dispatch(_order_confirmed(user.id))
    bus.dispatch(_order_confirmed(user.id))
    assert len(mail.outbox) == 2
    assert Notification.objects.count() == 2


def test_payment_failed_sends_payment_failed_mail(user):
    envelope = _payment_failed(user.id)
    bus.dispatch(envelope)
    bus.dispatch(envelope)
    assert len(mail.outbox) == 1
    assert "failed" in mail.outbox[0].subject
    assert "15.00 EUR" in mail.outbox[0].body and "card_declined" in mail.outbox[0].body
    assert Notification.objects.get().kind == "payment_failed"
    assert InboxMessage.objects.filter(consumer=PAYMENT_FAILED_CONSUMER).count() == 1


def test_smtp_down_records_failed_and_does_not_raise(user, settings):
    # A real SMTP backend pointed at a closed port: the connection is refused.
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_TIMEOUT = "127.0.0.1", 1, 2
    envelope = _order_confirmed(user.id)

    assert bus.dispatch(envelope) == 1  # handled, not raised

    notification = Notification.objects.get()
    assert notification.status == "failed"
    assert "ConnectionRefusedError" in notification.error or "Errno" in notification.error
    assert notification.to == user.email
    # Handled means done: the inbox row is there and a redelivery does not try again.
    assert InboxMessage.objects.filter(event_id=envelope["event_id"]).count() == 1
    assert bus.dispatch(envelope) == 0
    assert Notification.objects.count() == 1


def test_unknown_user_records_failed_without_mail():
    missing = uuid.uuid4()
    bus.dispatch(_order_confirmed(missing))
    notification = Notification.objects.get()
    assert notification.status == "failed"
    assert str(missing) in notification.error
    assert mail.outbox == []


def test_malformed_event_is_a_dead_letter_at_once_not_retried(user):
    envelope = _order_confirmed(user.id)
    envelope["payload"]["user_id"] = "not-a-uuid"
    assert dispatch_event.apply(args=[envelope]).get() == 0
    assert not Notification.objects.exists()
    assert mail.outbox == []
    letter = ConsumerFailure.objects.get()
    assert (letter.consumer, letter.dead, letter.attempts) == (ORDER_CONFIRMED_CONSUMER, True, 1)
    assert "malformed orders.OrderConfirmed payload" in letter.error


@pytest.mark.parametrize(
    ("amount", "currency", "text"),
    [(4299, "EUR", "42.99 EUR"), (5, "USD", "0.05 USD"), (1500, "JPY", "1500 JPY"), (1234, "KWD", "1.234 KWD")],
)
def test_amount_format(amount, currency, text):
    assert amount_format(amount_minor=amount, currency=currency) == text


def test_consumers_are_registered_when_django_starts():
    assert ORDER_CONFIRMED_CONSUMER in {name for name, _ in bus.subscribers(OrderConfirmed.type_name)}
    assert PAYMENT_FAILED_CONSUMER in {name for name, _ in bus.subscribers(PaymentFailed.type_name)}
