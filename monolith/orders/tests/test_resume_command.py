"""`manage.py resume_checkouts` tells its caller (cron, an operator, CI) when a checkout could not be
resumed: a CommandError (exit status 1 from manage.py) and the order named, after trying the rest."""

import datetime as dt

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from monolith.orders.management.commands import resume_checkouts
from monolith.orders.models import CheckoutSaga, Order


def _stale_saga(order: Order) -> None:
    CheckoutSaga.objects.create(order=order, step="started", card_token="tok_visa")
    CheckoutSaga.objects.filter(pk=order.id).update(updated_at=timezone.now() - dt.timedelta(seconds=120))


@pytest.mark.django_db
def test_a_checkout_that_cannot_be_resumed_fails_the_command(order, monkeypatch, capsys):
    _stale_saga(order)

    def broken(*, order_id):
        raise RuntimeError("payments said 500")

    monkeypatch.setattr(resume_checkouts, "order_checkout_resume", broken)
    with pytest.raises(CommandError, match="1 of 1 checkouts could not be resumed"):
        call_command("resume_checkouts", older_than=60)
    assert str(order.id) in capsys.readouterr().err

