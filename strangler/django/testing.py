"""Test helpers of the kit: a guard that fails any network call made inside an open database transaction.

A call out (HTTP to another service, a card processor) made while a transaction is open holds its
row locks (on SQLite the whole database) for as long as the other side takes, and what the other
side did survives a rollback here: a refund at the processor with no row, a charge nobody records.
Every step must commit before it calls out. The guard enforces that in tests::

    # conftest.py
    from strangler.django.testing import network_guard_fixture

    no_network_in_transaction = network_guard_fixture(
        "myproject.payments.processors.FakeProcessor.charge",  # calls out, though not over HTTP here
        autouse=True,
    )

Guarded: every HTTP request that goes through ``http.client`` (``urllib``, ``urllib3``, ``requests``
all do), ``requests.Session.send`` (also when a test library swapped the transport), and the
callables named. A guarded call made while the calling thread's connection (any alias) is inside
``transaction.atomic`` raises ``NetworkInTransaction`` at the call, and the test fails at teardown
even if the code under test swallowed that exception.

Test transactions are not counted: pytest-django's ``django_db`` (Django's ``TestCase``) wraps each
test in atomic blocks, which Django marks ``_from_testcase`` (the very mark Django uses so that
``atomic(durable=True)`` works inside a TestCase). Only blocks the code under test opened count, so
the guard works the same in ``django_db`` tests and in ``transaction=True`` ones; no savepoint depth
has to be remembered at test start (a fixture's own transaction would make that baseline wrong).
"""

from __future__ import annotations

import contextlib
import functools
import http.client
import threading
import traceback
from collections.abc import Callable, Iterator
from typing import Any

from django.db import connections
from django.utils.module_loading import import_string

__all__ = ["NetworkGuard", "NetworkInTransaction", "network_guard_fixture", "transactions_open"]


class NetworkInTransaction(AssertionError):
    """A call out of the process was made while a database transaction was open."""


def transactions_open() -> list[str]:
    """Aliases whose connection (in this thread) is inside an atomic block the code opened
    (the test framework's own wrapping blocks excepted)."""
    return [conn.alias for conn in connections.all(initialized_only=True)
            if any(not getattr(block, "_from_testcase", False) for block in conn.atomic_blocks)]


class NetworkGuard:
    """Patches the guarded calls while entered; ``violations`` lists what was caught."""

    def __init__(self, *, calls: tuple[str, ...] = ()) -> None:
        self.calls = calls
        self.violations: list[str] = []
        self._undo: list[Callable[[], None]] = []
        self._allowed = threading.local()

    def check(self, what: str) -> None:
        if getattr(self._allowed, "on", False):
            return
        aliases = transactions_open()
        if not aliases:
            return
        where = "".join(traceback.format_stack(limit=12)[:-2])
        message = f"{what} called inside an open transaction on {', '.join(aliases)}; commit first.\n{where}"
        self.violations.append(message)
        raise NetworkInTransaction(message)

    @contextlib.contextmanager
    def allowed(self) -> Iterator[None]:
        """Let calls through in this block (a test that sets up a remote side, say)."""
        self._allowed.on = True
        try:
            yield
        finally:
            self._allowed.on = False

    def _patch(self, owner: Any, name: str, label: str) -> None:
        original = owner.__dict__[name] if name in getattr(owner, "__dict__", {}) else getattr(owner, name)
        target = original.__func__ if isinstance(original, staticmethod | classmethod) else original
        guard = self

        @functools.wraps(target)
        def guarded(*args: Any, **kwargs: Any) -> Any:
            guard.check(label)
            return target(*args, **kwargs)

        if isinstance(original, staticmethod):
            replacement: Any = staticmethod(guarded)
        elif isinstance(original, classmethod):
            replacement = classmethod(guarded)
        else:
            replacement = guarded
        setattr(owner, name, replacement)
        self._undo.append(lambda: setattr(owner, name, original))

    def __enter__(self) -> NetworkGuard:
        self._patch(http.client.HTTPConnection, "putrequest", "an HTTP request (http.client)")
        try:
            import requests
        except ImportError:  # pragma: no cover - requests is one of the kit's django extras
            pass
        else:
            self._patch(requests.Session, "send", "an HTTP request (requests)")
        for dotted in self.calls:
            module_path, _, name = dotted.rpartition(".")
            self._patch(import_string(module_path), name, dotted)
        return self

    def __exit__(self, *exc: object) -> None:
        while self._undo:
            self._undo.pop()()


def network_guard_fixture(*calls: str, autouse: bool = True) -> Callable[..., Any]:
    """A pytest fixture (assign it to a name in a conftest) that runs each test under a NetworkGuard
    over HTTP and ``calls`` (dotted paths of class attributes or module functions) and fails the test
    when anything was called inside a transaction. The fixture's value is the guard."""
    import pytest

    @pytest.fixture(autouse=autouse)
    def no_network_in_transaction() -> Iterator[NetworkGuard]:
        with NetworkGuard(calls=calls) as guard:
            yield guard
        if guard.violations:
            pytest.fail(f"{len(guard.violations)} call(s) out inside a database transaction:\n\n"
                        + "\n\n".join(guard.violations), pytrace=False)

    return no_network_in_transaction
