"""A cutover of a live route under load: WebSocket clients keep connecting and sending while the
route goes monolith -> canary 50% -> service, each flip draining the old side. A real `strangler
serve`, the real CLI and real `websockets` servers on both sides.

What must hold: no message sent on an open tunnel goes unanswered (each client sends one numbered
message at a time and waits for its echo), the only closes are the drains' 1012 and each comes
after its grace, a drained client reconnects, and once the route is on the service every new
tunnel lands there.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from strangler.tests.control_support import Process, cli
from strangler.tests.ws_support import live_proxy

pytestmark = pytest.mark.integration

CLIENTS = 8
GRACE = 1.0  # seconds each flip lets the old side's tunnels live
SERVICE_RESTART = 1012  # the close code of a drain


@pytest.fixture
def proxy(tmp_path: Path) -> Iterator[tuple[Process, Path]]:
    with live_proxy(tmp_path, cohort="header:x-user-id") as running:  # sticky canary cohorts per user
        yield running


@dataclass
class Tunnel:
    side: str
    opened: float
    echoed: int = 0  # messages sent and answered
    closed: float = 0.0
    code: int | None = None  # the close code the client received, None if it closed itself
    unanswered: list[str] = field(default_factory=list)  # sent on an open tunnel, never echoed


def _shopper(url: str, user: int, stop: threading.Event, tunnels: list[Tunnel], errors: list[str]) -> None:
    n = 0
    while not stop.is_set():
        try:
            ws = connect(url, open_timeout=5, additional_headers={"X-User-Id": f"user-{user}"})
        except Exception as exc:  # noqa: BLE001 - reported by the test
            errors.append(f"user {user}: handshake failed: {exc!r}")
            return
        with ws:
            ws.send("whoami")
            tunnel = Tunnel(side=str(ws.recv(timeout=5)), opened=time.monotonic())
            tunnels.append(tunnel)
            try:
                while not stop.is_set():
                    n += 1
                    message = f"{user}:{n}"
                    ws.send(message)
                    answer = ws.recv(timeout=5)
                    if answer != message:
                        tunnel.unanswered.append(message)
                        errors.append(f"user {user}: sent {message}, got {answer}")
                        return
                    tunnel.echoed += 1
            except ConnectionClosed as closed:
                tunnel.closed = time.monotonic()
                tunnel.code = closed.rcvd.code if closed.rcvd is not None else None
                if tunnel.code != SERVICE_RESTART:
                    errors.append(f"user {user}: closed with {tunnel.code}, not a drain")
                    return
            except TimeoutError:
                tunnel.unanswered.append(message)
                errors.append(f"user {user}: {message} was never echoed on an open tunnel")
                return


def _flip(config: Path, *args: str) -> float:
    result = cli(config, "set", "live", *args, "--drain-grace", str(GRACE), "--reason", "cutover under load")
    assert result.returncode == 0, result.stderr
    return time.monotonic()


def test_a_cutover_under_load_loses_no_message_and_drains_the_old_side(proxy) -> None:
    running, config = proxy
    url = f"ws://127.0.0.1:{running.ports['proxy']}/ws/echo"
    stop = threading.Event()
    tunnels: list[Tunnel] = []
    errors: list[str] = []
    shoppers = [threading.Thread(target=_shopper, args=(url, user, stop, tunnels, errors), daemon=True)
                for user in range(CLIENTS)]
    for shopper in shoppers:
        shopper.start()
    try:
        time.sleep(1.0)
        canary_at = _flip(config, "--mode", "canary", "--weight", "50")
        time.sleep(GRACE + 1.5)
        service_at = _flip(config, "--mode", "service")
        time.sleep(GRACE + 1.5)
    finally:
        stop.set()
        for shopper in shoppers:
            shopper.join(timeout=15)
    assert not errors, errors[:5]
    assert all(not t.unanswered for t in tunnels)
    assert sum(t.echoed for t in tunnels) > 100, "the load never ran"
    drained = [t for t in tunnels if t.code == SERVICE_RESTART]
    # Every close was a drain, after its flip's grace: none cut a tunnel early.
    for tunnel in drained:
        flip = service_at if tunnel.closed >= service_at else canary_at
        assert tunnel.closed - flip >= GRACE * 0.9, (tunnel, flip)
    # The canary moved some users: their monolith tunnels were drained and they reconnected to the
    # service, while the others' tunnels stayed open on the monolith until the service flip drained them.
    assert any(t.side == "monolith" and canary_at < t.closed < service_at for t in drained)
    assert any(t.side == "service" and canary_at < t.opened < service_at for t in tunnels)
    assert any(t.side == "monolith" and t.closed >= service_at for t in drained)
    # Once on the service, every new tunnel (a drained client's reconnection) lands there.
    settled = [t for t in tunnels if t.opened > service_at + GRACE]
    assert settled and {t.side for t in settled} == {"service"}
    print(f"[tunnel flip] {len(tunnels)} tunnels, {sum(t.echoed for t in tunnels)} messages echoed, "
          f"{len(drained)} drained with 1012")
