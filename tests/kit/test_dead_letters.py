"""A consumer that keeps failing neither holds back the event's other consumers nor is retried
forever: it is retried on its own with backoff, then parked as a dead letter (event, consumer,
error, attempts, first and last time) that `manage.py strangler_dead_letters` lists, retries and
discards. A consumer's "this can never be applied" is a dead letter at once."""

import datetime as dt
import uuid

import pytest
from django.core.management import call_command
from django.utils import timezone

from strangler.django.outbox import bus, failures
from strangler.django.outbox.models import ConsumerFailure, InboxMessage
from strangler.django.outbox.tasks import consumer_retry, dispatch_event
from tests.kit.test_bus import _envelope as bus_envelope

pytestmark = pytest.mark.django_db


def _envelope():
    return bus_envelope("tests.Poison")


def _make_due() -> None:
    ConsumerFailure.objects.filter(next_attempt_at__isnull=False).update(
        next_attempt_at=timezone.now() - dt.timedelta(seconds=1))


def _retry_round() -> list[int]:
    """The relay's round: hand each due failure to a worker (here, run the task in process)."""
    handed: list[int] = []
    failures.consumer_retries_send_due(publish=handed.append)
    for failure_id in handed:
        consumer_retry.apply(args=[failure_id]).get()
    return handed


def test_a_poison_consumer_does_not_hold_back_the_others_and_ends_a_dead_letter(registry, capsys):
    calls = {"poisoned": 0, "healthy": 0}

    def poison(envelope):
        calls["poisoned"] += 1
        raise RuntimeError("cannot apply this one")

    bus.subscribe("tests.Poison", consumer="poisoned")(poison)
    bus.subscribe("tests.Poison", consumer="healthy")(lambda e: calls.__setitem__("healthy", calls["healthy"] + 1))
    envelope = _envelope()
    assert dispatch_event.apply(args=[envelope]).get() == 1  # the healthy consumer ran, at once
    assert calls == {"poisoned": 1, "healthy": 1}
    assert list(InboxMessage.objects.values_list("consumer", flat=True)) == ["healthy"]
    failure = ConsumerFailure.objects.get()
    assert (failure.consumer, failure.attempts, failure.dead) == ("poisoned", 1, False)
    assert failure.next_attempt_at > timezone.now()
    assert _retry_round() == []  # not due yet

    delays = []
    while not ConsumerFailure.objects.get().dead:
        _make_due()
        before = timezone.now()
        assert len(_retry_round()) == 1
        letter = ConsumerFailure.objects.get()
        if not letter.dead:
            delays.append(round((letter.next_attempt_at - before).total_seconds()))
    letter = ConsumerFailure.objects.get()
    assert letter.attempts == failures.MAX_ATTEMPTS == calls["poisoned"]
    assert delays == sorted(delays) and delays[-1] <= failures.MAX_DELAY + 1
    assert (letter.event_id, letter.event_type, letter.envelope) == (uuid.UUID(envelope["event_id"]), "tests.Poison",
                                                                     envelope)
    assert "RuntimeError: cannot apply this one" in letter.error and letter.first_failed_at < letter.last_failed_at
    assert calls["healthy"] == 1
    _make_due()
    assert _retry_round() == []  # a dead letter is never retried by itself

    with pytest.raises(SystemExit) as exited:
        call_command("strangler_dead_letters")
    assert exited.value.code == 1
    out = capsys.readouterr().out
    assert "dead letters: 1" in out and envelope["event_id"] in out and "poisoned" in out


def test_a_consumer_that_fails_once_is_applied_by_its_retry(registry):
    calls = []

    def flaky(envelope):
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("blip")

    bus.subscribe("tests.Poison", consumer="flaky")(flaky)
    assert dispatch_event.apply(args=[_envelope()]).get() == 0
    _make_due()
    _retry_round()
    assert len(calls) == 2 and not ConsumerFailure.objects.exists()
    assert InboxMessage.objects.filter(consumer="flaky").count() == 1


def test_unprocessable_is_a_dead_letter_at_once(registry):
    def strict(envelope):
        raise bus.Unprocessable("amount_minor is not an integer")

    bus.subscribe("tests.Poison", consumer="strict")(strict)
    dispatch_event.apply(args=[_envelope()]).get()
    letter = ConsumerFailure.objects.get()
    assert letter.dead and letter.attempts == 1 and "amount_minor" in letter.error


def test_dead_letters_can_be_retried_and_discarded(registry, capsys):
    fixed = {"now": False}

    def sometimes(envelope):
        if not fixed["now"]:
            raise bus.Unprocessable("not yet")

    bus.subscribe("tests.Poison", consumer="sometimes")(sometimes)
    first, second = _envelope(), _envelope()
    dispatch_event.apply(args=[first]).get()
    dispatch_event.apply(args=[second]).get()
    one, two = ConsumerFailure.objects.order_by("id")
    fixed["now"] = True  # the bug is fixed; retry the first, discard the second
    call_command("strangler_dead_letters", "--retry", str(one.id))
    assert "retrying 1 dead letter(s)" in capsys.readouterr().out
    _retry_round()
    assert list(ConsumerFailure.objects.values_list("id", flat=True)) == [two.id]
    call_command("strangler_dead_letters", "--discard", "all")
    assert not ConsumerFailure.objects.exists()
    call_command("strangler_dead_letters")  # none left: exit 0
    assert "dead letters: 0" in capsys.readouterr().out


def test_a_redelivered_copy_of_a_failing_event_is_tracked_once(registry):
    bus.subscribe("tests.Poison", consumer="poisoned")(lambda e: 1 / 0)
    envelope = _envelope()
    dispatch_event.apply(args=[envelope]).get()
    dispatch_event.apply(args=[envelope]).get()
    assert ConsumerFailure.objects.count() == 1
