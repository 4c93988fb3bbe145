"""In-process subscriber registry and idempotent dispatch of envelopes to consumers."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from django.db import IntegrityError, transaction

from strangler.django.outbox.models import InboxMessage

logger = logging.getLogger(__name__)

Handler = Callable[[dict[str, Any]], None]
_subscribers: dict[str, list[tuple[str, Handler]]] = {}
# Consumers that call out of the process (HTTP, a processor): run outside any transaction.
_calls_out: set[tuple[str, str]] = set()


def subscribe(event_type: str, *, consumer: str, calls_out: bool = False) -> Callable[[Handler], Handler]:
    """Register ``handler(envelope)`` for ``event_type`` under a stable consumer name.

    By default the handler runs inside the inbox transaction: its writes and the inbox row commit
    together (exactly once in effect). A handler that calls out of the process (another service, a
    card processor, a mail server) must not hold that transaction open across the call:
    ``calls_out=True`` runs it with no transaction open (each of its steps commits before it calls
    out) and records the inbox row after it returned. Such a handler must be idempotent: a crash
    between its end and the inbox row runs it again on redelivery.
    """

    def register(handler: Handler) -> Handler:
        entries = _subscribers.setdefault(event_type, [])
        if all(name != consumer for name, _ in entries):
            entries.append((consumer, handler))
        if calls_out:
            _calls_out.add((event_type, consumer))
        return handler

    return register


def subscribers(event_type: str) -> list[tuple[str, Handler]]:
    return list(_subscribers.get(event_type, []))


def _only_test_blocks() -> bool:
    """No transaction open, or only a test case's own wrapping ones (Django marks those blocks, as
    it does for ``atomic(durable=True)``)."""
    return all(getattr(block, "_from_testcase", False) for block in transaction.get_connection().atomic_blocks)


def _run_calling_out(envelope: dict[str, Any], consumer: str, handler: Handler) -> bool:
    """Run a consumer that calls out with no transaction open, then record it; False if it had run."""
    if not _only_test_blocks():
        raise RuntimeError(f"consumer {consumer} calls out: dispatch it outside a transaction")
    if InboxMessage.objects.filter(event_id=envelope["event_id"], consumer=consumer).exists():
        logger.info("event %s already processed by %s", envelope["event_id"], consumer)
        return False
    handler(envelope)
    try:
        with transaction.atomic():
            InboxMessage.objects.create(event_id=envelope["event_id"], consumer=consumer, event_type=envelope["type"])
    except IntegrityError:  # a concurrent delivery ran it too; the handler is idempotent
        logger.info("event %s processed concurrently by %s", envelope["event_id"], consumer)
    return True


class Unprocessable(Exception):  # noqa: N818 - a verdict, not an error of ours
    """A consumer's verdict that this envelope can never be applied (malformed, fails validation):
    no retry can help, so it becomes a dead letter at once (strangler.django.outbox.failures)."""


def _run(envelope: dict[str, Any], consumer: str, handler: Handler) -> bool:
    """Run one consumer once; False when its inbox row says it already ran. Raises what it raised.

    The inbox row and the consumer's writes share one transaction: a failed handler leaves no
    row, so a retry runs it again; a duplicate delivery finds the row and is skipped. Consumers
    subscribed with ``calls_out=True`` run with no transaction open and are recorded after.
    """
    if (envelope["type"], consumer) in _calls_out:
        return _run_calling_out(envelope, consumer, handler)
    with transaction.atomic():
        try:
            # Only this insert's IntegrityError means "already processed"; one raised by the
            # handler's own writes must propagate (and be retried), not be taken for a duplicate.
            with transaction.atomic():
                InboxMessage.objects.create(event_id=envelope["event_id"], consumer=consumer, event_type=envelope["type"])
        except IntegrityError:
            logger.info("event %s already processed by %s", envelope["event_id"], consumer)
            return False
        handler(envelope)
    return True


def dispatch_each(envelope: dict[str, Any]) -> tuple[int, dict[str, BaseException]]:
    """Run every consumer of the envelope once, each on its own: one that raises does not stop the
    others. Returns how many ran and what each failing consumer raised."""
    ran, failed = 0, {}
    for consumer, handler in subscribers(envelope["type"]):
        try:
            ran += _run(envelope, consumer, handler)
        except Exception as exc:  # noqa: BLE001 - recorded by the caller, per consumer
            failed[consumer] = exc
    return ran, failed


ALL_CONSUMERS = "*"  # a dead letter parked before failures were recorded per consumer


def dispatch_one(envelope: dict[str, Any], consumer: str) -> bool:
    """Run one named consumer of the envelope (a retry); False when it had already run."""
    if consumer == ALL_CONSUMERS:
        return dispatch(envelope) > 0
    for name, handler in subscribers(envelope["type"]):
        if name == consumer:
            return _run(envelope, consumer, handler)
    raise Unprocessable(f"no consumer {consumer!r} of {envelope['type']!r} here (renamed or removed?)")


def dispatch(envelope: dict[str, Any]) -> int:
    """Run every consumer of the envelope once; returns how many ran. When some failed, the others
    still ran, and the first failure is raised."""
    ran, failed = dispatch_each(envelope)
    if failed:
        raise next(iter(failed.values()))
    return ran
