"""Guessing the admin token is rate-limited per client address: after FAILURE_LIMIT wrong tokens
within FAILURE_WINDOW seconds (as a bearer or through the dashboard's log-in form) that address
gets 429 with Retry-After, even with the right token, until the window passes; other addresses are
not affected. Against a real `strangler serve` process of its own (the limit is per process)."""

from __future__ import annotations

import http.client
import json
from collections.abc import Iterator
from urllib.parse import urlencode

import pytest

from strangler.dashboard.throttle import FAILURE_LIMIT, FAILURE_WINDOW, FailureThrottle
from strangler.tests.control_support import TOKEN, Process, live_stack

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def proxy(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Process]:
    # A proxy of its own: the failures it counts must not lock the shared admin stack's tests out.
    with live_stack(tmp_path_factory.mktemp("throttle")) as (running, _):
        yield running


def _request(proxy: Process, method: str, path: str, *, source: str = "127.0.0.1", headers: dict | None = None,
             body: bytes | None = None) -> tuple[int, dict[str, str], bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", proxy.ports["admin"], timeout=5, source_address=(source, 0))
    try:
        conn.request(method, path, body=body, headers=headers or {})
        response = conn.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    finally:
        conn.close()


def _bearer(proxy: Process, token: str, source: str = "127.0.0.1") -> tuple[int, dict[str, str], bytes]:
    return _request(proxy, "GET", "/routes", source=source, headers={"Authorization": f"Bearer {token}"})


def test_guessing_the_token_is_refused_per_address(proxy: Process) -> None:
    assert _bearer(proxy, TOKEN)[0] == 200
    for n in range(FAILURE_LIMIT):
        assert _bearer(proxy, f"guess-{n}")[0] == 401
    status, headers, raw = _bearer(proxy, TOKEN)  # even the right token: the address is guessing
    assert status == 429 and 0 < int(headers["retry-after"]) <= FAILURE_WINDOW
    assert "too many wrong tokens" in json.loads(raw)["error"]
    form = urlencode({"token": TOKEN}).encode()
    status, _, raw = _request(proxy, "POST", "/login", body=form,
                              headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert status == 429 and "set-cookie" not in _
    # Another client address is not affected.
    assert _bearer(proxy, TOKEN, source="127.0.0.2")[0] == 200


def test_a_wrong_log_in_counts_and_a_right_one_resets(proxy: Process) -> None:
    source = "127.0.0.3"
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    for _ in range(FAILURE_LIMIT - 1):
        status, _, _ = _request(proxy, "POST", "/login", source=source, headers=form,
                                body=urlencode({"token": "wrong"}).encode())
        assert status == 401
    assert _bearer(proxy, TOKEN, source=source)[0] == 200  # a success forgets the failures
    for n in range(FAILURE_LIMIT - 1):
        assert _bearer(proxy, f"guess-{n}", source=source)[0] == 401
    assert _bearer(proxy, TOKEN, source=source)[0] == 200


def test_the_window_passes():
    now = [1000.0]
    throttle = FailureThrottle(limit=3, window=60.0, clock=lambda: now[0])
    for _ in range(3):
        assert throttle.retry_after("10.0.0.1") is None
        throttle.failed("10.0.0.1")
    assert throttle.retry_after("10.0.0.1") == 60
    now[0] += 59.5
    assert throttle.retry_after("10.0.0.1") == 1
    now[0] += 1
    assert throttle.retry_after("10.0.0.1") is None


def test_memory_is_bounded():
    throttle = FailureThrottle(limit=1, window=60.0, max_addresses=100)
    for n in range(1000):
        throttle.failed(f"10.0.{n // 256}.{n % 256}")
    assert len(throttle) == 100 and throttle.retry_after("10.0.3.231") is not None
