"""Pact objects for the consumer tests.

One Pact object per test (pact-python refuses new interactions once its mock server ran), written
to ``contracts/pacts/`` when the test passed. The first write of each pact file in a session
replaces the file, later ones merge into it, so an interaction renamed or dropped from the tests
does not linger in the committed file. A failed test writes nothing. So a pact file holds what the
session's tests of that pair defined: regenerate them with the whole directory (`make contracts`),
not a `-k` selection, before committing.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator

import pytest
from pact import Pact

from contracts.pactfiles import PACT_DIR

os.environ.setdefault("PACT_DO_NOT_TRACK", "true")

_written: set[tuple[str, str]] = set()
_PASSED = pytest.StashKey[bool]()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()
    if report.when == "call":
        item.stash[_PASSED] = report.passed


@pytest.fixture
def pact_between(request: pytest.FixtureRequest) -> Iterator[Callable[[str, str], Pact]]:
    """``pact_between(consumer, provider)``: a fresh Pact, written at teardown if the test passed."""
    made: list[Pact] = []

    def make(consumer: str, provider: str) -> Pact:
        pact = Pact(consumer, provider)
        made.append(pact)
        return pact

    yield make
    if not request.node.stash.get(_PASSED, False):
        return
    for pact in made:
        key = (pact.consumer, pact.provider)
        pact.write_file(PACT_DIR, overwrite=key not in _written)
        _written.add(key)
