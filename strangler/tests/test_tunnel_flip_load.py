"""A cutover of a live route under load: WebSocket clients keep connecting and sending while the
route goes monolith -> canary 50% -> service, each flip draining the old side. A real `strangler
serve`, the real CLI and real `websockets` servers on both sides.

What must hold: no message sent on an open tunnel goes unanswered (each client sends one numbered
message at a time and waits for its echo), the only closes are the drains' 1012 and each comes
after its grace, a drained client reconnects, and once the route is on the service every new
tunnel lands there.

Times are the client's, and the proxy applies a flip at a moment the test does not see (after the
CLI wrote the store, possibly before the CLI process has exited). So a flip's moment is taken just
before its CLI starts (no drain can close earlier than that plus the grace), and "on the service"
begins at the first close of the service flip's drain (the proxy had applied the flip by then).
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
SETTLE = 1.5  # seconds of load after a flip's grace
RECONNECT_DEADLINE = 20.0  # seconds a drained client has to come back


@pytest.fixture
def proxy(tmp_path: Path) -> Iterator[tuple[Process, Path]]:
    with live_proxy(tmp_path, cohort="header:x-user-id") as running:  # sticky canary cohorts per user
        yield running


@dataclass
class Tunnel:
    user: int
    side: str
    connecting: float  # before the handshake began
    opened: float  # once the upstream had answered "whoami"
    echoed: int = 0  # messages sent and answered
    closed: float = 0.0
    code: int | None = None  # the close code the client received, None if it closed itself
    unanswered: list[str] = field(default_factory=list)  # sent on an open tunnel, never echoed


def _shopper(url: str, user: int, stop: threading.Event, tunnels: list[Tunnel], errors: list[str]) -> None:
    n = 0
    while not stop.is_set():
        connecting = time.monotonic()
        try:
            ws = connect(url, open_timeout=5, additional_headers={"X-User-Id": f"user-{user}"})
        except Exception as exc:  # noqa: BLE001 - reported by the test
            errors.append(f"user {user}: handshake failed: {exc!r}")
            return
        with ws:
            ws.send("whoami")
            tunnel = Tunnel(user=user, side=str(ws.recv(timeout=5)), connecting=connecting,
                            opened=time.monotonic())
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
    """Flip the route; the moment returned is before the CLI ran, so no drain of this flip closes
    earlier than it plus the grace."""
    started = time.monotonic()
    result = cli(config, "set", "live", *args, "--drain-grace", str(GRACE), "--reason", "cutover under load")
    assert result.returncode == 0, result.stderr
    return started


def _wait_for_reconnections(tunnels: list[Tunnel], since: float) -> None:
    """Until every client drained after `since` has opened its next tunnel (or the deadline)."""
    deadline = time.monotonic() + RECONNECT_DEADLINE
    while time.monotonic() < deadline:
        drained = [t for t in list(tunnels) if t.code == SERVICE_RESTART and t.closed >= since]
        if drained and all(any(n.user == t.user and n.connecting >= t.closed for n in list(tunnels))
                           for t in drained):
            return
        time.sleep(0.1)


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
        time.sleep(GRACE + SETTLE)
        service_at = _flip(config, "--mode", "service")
        time.sleep(GRACE + SETTLE)
        _wait_for_reconnections(tunnels, service_at)
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
    on_service = min(t.closed for t in drained if t.closed >= service_at)
    settled = [t for t in tunnels if t.connecting >= on_service]
    assert settled and {t.side for t in settled} == {"service"}, (settled, on_service)
    print(f"[tunnel flip] {len(tunnels)} tunnels, {sum(t.echoed for t in tunnels)} messages echoed, "
          f"{len(drained)} drained with 1012")
