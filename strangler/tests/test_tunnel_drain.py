"""Flips and drains of WebSocket tunnels through the control plane: a real `strangler serve` process,
real `websockets` servers on both sides, the real `strangler` command and admin API. The CLI writes
to the store only: the proxy learns of the flip and the drain through its watcher."""

from __future__ import annotations

import http.client
import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from strangler.tests.control_support import TOKEN, Process, cli
from strangler.tests.ws_support import live_proxy, live_route_table

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Process, Path]]:
    with live_proxy(tmp_path_factory.mktemp("drain")) as running:
        yield running


def _whoami(ws) -> str:
    ws.send("whoami")
    return ws.recv(timeout=5)


def _wait_side(url: str, side: str) -> None:
    """New tunnels follow a flip once the watcher applied it (within a second)."""
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        with connect(url, open_timeout=5) as ws:
            if _whoami(ws) == side:
                return
        time.sleep(0.1)
    raise AssertionError(f"new tunnels never reached {side}")


def _admin(proxy: Process, method: str, path: str, body: object) -> tuple[int, dict]:
    conn = http.client.HTTPConnection("127.0.0.1", proxy.ports["admin"], timeout=5)
    try:
        conn.request(method, path, body=json.dumps(body),
                     headers={"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"})
        response = conn.getresponse()
        return response.status, json.loads(response.read())
    finally:
        conn.close()


def test_cli_flip_with_drain_grace_moves_open_tunnels(stack) -> None:
    proxy, config = stack
    url = f"ws://127.0.0.1:{proxy.ports['proxy']}/ws/echo"
    with connect(url, open_timeout=5) as old:
        assert _whoami(old) == "monolith"
        result = cli(config, "set", "live", "--mode", "service", "--reason", "cut over live updates",
                     "--drain-grace", "1.5")
        assert result.returncode == 0, result.stderr
        assert "live: drain #" in result.stdout and " in 1.5s by tester" in result.stdout
        _wait_side(url, "service")
        assert _whoami(old) == "monolith"  # still open during the grace
        with pytest.raises(ConnectionClosed) as closed:
            old.recv(timeout=5)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1012
    with connect(url, open_timeout=5) as again:  # the client reconnects: the new side
        assert _whoami(again) == "service"
    # Back to the monolith through the admin API, draining in the same call.
    with connect(url, open_timeout=5) as on_service:
        assert _whoami(on_service) == "service"
        status, payload = _admin(proxy, "PUT", "/routes/live", {"mode": "monolith", "reason": "roll back",
                                                                "drain_grace": 0.5})
        assert status == 200 and payload["drain"]["grace"] == 0.5 and payload["drain"]["route"] == "live"
        with pytest.raises(ConnectionClosed) as closed:
            on_service.recv(timeout=5)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1012


def test_drain_command_and_its_refusals(stack) -> None:
    proxy, config = stack
    result = cli(config, "drain", "live", "--grace", "0", "--reason", "nothing moved")
    assert result.returncode == 0, result.stderr
    assert " in 0s by tester" in result.stdout
    assert cli(config, "drain", "nope", "--grace", "1", "--reason", "r").returncode == 2
    status, payload = _admin(proxy, "POST", "/routes/live/drain", {"reason": "r"})
    assert status == 400 and "grace" in payload["error"]
    status, payload = _admin(proxy, "POST", "/routes/live/drain", {"grace": -1, "reason": "r"})
    assert status == 400
    status, payload = _admin(proxy, "POST", "/routes/nope/drain", {"grace": 1, "reason": "r"})
    assert status == 404
    # A flip asking for an impossible drain is refused whole: the route does not move.
    before = json.loads(cli(config, "routes", "--json").stdout)["version"]
    status, payload = _admin(proxy, "PUT", "/routes/live", {"mode": "service", "reason": "r", "drain_grace": 7200})
    assert status == 400 and "drain grace" in payload["error"]
    result = cli(config, "set", "live", "--mode", "service", "--reason", "r", "--drain-grace", "-1")
    assert result.returncode == 2 and "drain grace" in result.stderr
    assert json.loads(cli(config, "routes", "--json").stdout)["version"] == before


def test_check_says_shadow_mirrors_no_tunnel(tmp_path: Path) -> None:
    config = live_route_table(tmp_path, 1, 2, mode="shadow")
    result = cli(config, "check", str(config))
    assert result.returncode == 0, result.stderr
    assert "note: route live: shadow mode mirrors no WebSocket tunnel" in result.stdout


def _dashboard_live(proxy: Process) -> tuple[dict, str]:
    """The dashboard's data for route `live` and its rendered routes table."""
    conn = http.client.HTTPConnection("127.0.0.1", proxy.ports["admin"], timeout=5)
    try:
        conn.request("GET", "/dashboard/data?fragments=1", headers={"Authorization": f"Bearer {TOKEN}"})
        response = conn.getresponse()
        data = json.loads(response.read())
    finally:
        conn.close()
    assert response.status == 200, data
    return next(r for r in data["routes"] if r["name"] == "live"), data["fragments"]["routes"]


def _tunnels_become(proxy: Process, expected: dict[str, int]) -> str:
    """Wait until the dashboard counts `expected` open tunnels per side (a closed tunnel is counted
    out once both its connections closed); the rendered routes table then."""
    deadline = time.monotonic() + 5
    while (found := _dashboard_live(proxy))[0]["tunnels"] != expected:
        assert time.monotonic() < deadline, found[0]["tunnels"]
        time.sleep(0.1)
    return found[1]


def test_the_dashboard_shows_open_tunnels_per_side_during_a_cutover(stack) -> None:
    proxy, config = stack
    url = f"ws://127.0.0.1:{proxy.ports['proxy']}/ws/echo"
    assert cli(config, "set", "live", "--mode", "monolith", "--reason", "start on the monolith").returncode == 0
    _wait_side(url, "monolith")
    with connect(url, open_timeout=5) as on_monolith:
        assert _whoami(on_monolith) == "monolith"
        assert cli(config, "set", "live", "--mode", "service", "--reason", "cut over").returncode == 0
        _wait_side(url, "service")
        with connect(url, open_timeout=5) as on_service:
            assert _whoami(on_service) == "service"
            table = _tunnels_become(proxy, {"monolith": 1, "service": 1})
            assert table.count('data-tunnels="1"') == 2  # one per side, on the route's target rows
    _tunnels_become(proxy, {"monolith": 0, "service": 0})
