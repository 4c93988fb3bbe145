"""The upgrade settings in the exports: nginx (maps, per-route refusals, a tunnel location with the
idle timeout; a real nginx carrying a real WebSocket) and the Gateway API annotations."""

from __future__ import annotations

import socket
import subprocess
import time
from pathlib import Path

import pytest
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from strangler.export.gateway import httproute_export
from strangler.export.nginx import nginx_export
from strangler.proxy.config import parse_config
from strangler.testing import free_port
from strangler.tests.test_export import NGINX, nginx_conf
from strangler.tests.ws_support import WsUpstream


def _table(monolith: int = 8001, service: int = 8002):
    return parse_config({
        "targets": {"monolith": {"url": f"http://127.0.0.1:{monolith}"},
                    "live": {"url": f"http://127.0.0.1:{service}", "connect_timeout": 0.5}},
        "routes": [
            {"name": "live", "prefix": "/ws", "service": "live", "mode": "service",
             "tunnel": {"upgrades": ["websocket", "h2c"], "idle_timeout": 0, "max_lifetime": 60}},
            {"name": "plain", "prefix": "/api", "service": "live", "mode": "service", "tunnel": {"upgrades": []}},
        ],
    }, env={}).table


def _export(table, **kw) -> str:
    return nginx_export(table, {r.name: r.state for r in table.routes}, source="test", **kw)


def test_nginx_passes_only_allowed_upgrades_per_route() -> None:
    text = _export(_table())
    assert 'map "$http_upgrade:$http_connection" $strangler_upgrade {\n    default "";\n' \
           '    "~*^h2c:(.*[ ,])?upgrade([ ,].*)?$" h2c;\n' \
           '    "~*^websocket:(.*[ ,])?upgrade([ ,].*)?$" websocket;\n}' in text
    assert "proxy_set_header Upgrade $strangler_upgrade;" in text
    assert "proxy_set_header Connection $strangler_connection;" in text
    assert "proxy_hide_header Upgrade;" not in text  # a 101 must carry it
    # live allows both: its tunnel location, with "no idle limit" as a day
    assert "    location @strangler_live_tunnel {\n        proxy_connect_timeout 500ms;\n" \
           "        proxy_read_timeout 86400s;\n        proxy_send_timeout 86400s;\n" \
           "        proxy_pass http://strangler_live;\n    }" in text
    # plain allows none: refused, no tunnel location
    assert "    location = /api {\n        if ($strangler_upgrade) {\n            return 400;\n        }\n" in text
    assert "@strangler_plain_tunnel" not in text
    # DEFAULT allows websocket only: h2c, which live allows, is refused there
    assert '    location / {\n        if ($strangler_upgrade ~ "^(h2c)$") {\n            return 400;\n        }\n' \
           "        error_page 418 = @strangler_default_tunnel;\n" in text


def test_nginx_without_any_upgrade_keeps_plain_keep_alive_headers() -> None:
    table = parse_config({"targets": {"monolith": {"url": "http://127.0.0.1:8001"}},
                          "routes": [{"name": "DEFAULT", "prefix": "/", "tunnel": {"upgrades": []}}]}, env={}).table
    text = _export(table)
    assert "$strangler_upgrade" not in text and "tunnels (WebSocket)" not in text
    assert 'proxy_set_header Connection "";' in text and "proxy_hide_header Upgrade;" in text


def test_gateway_annotations_carry_the_tunnel_settings() -> None:
    table = _table()
    document = httproute_export(table, {r.name: r.state for r in table.routes}, source="test")
    annotations = document["metadata"]["annotations"]
    assert annotations["strangler.dev/tunnels"] == (
        "live: upgrades websocket, h2c; idle_timeout 0s, max_lifetime 60s\n"
        "DEFAULT: upgrades websocket; idle_timeout 300s, max_lifetime 3600s")
    assert "no drain on a flip" in annotations["strangler.dev/not-expressed"]
    assert all("timeouts" not in rule for rule in document["spec"]["rules"])


@pytest.mark.integration
def test_a_real_nginx_carries_websocket_tunnels_as_exported(tmp_path: Path) -> None:
    monolith, service = WsUpstream("monolith"), WsUpstream("service")
    nginx = None
    try:
        listen = free_port()
        conf = nginx_conf(tmp_path, _export(_table(monolith.port, service.port), listen=f"127.0.0.1:{listen}"))
        check = subprocess.run([NGINX, "-t", "-p", str(tmp_path), "-c", str(conf), "-e", str(tmp_path / "error.log")],
                               capture_output=True, text=True, timeout=60)
        assert check.returncode == 0, check.stderr
        nginx = subprocess.Popen([NGINX, "-p", str(tmp_path), "-c", str(conf), "-e", str(tmp_path / "error.log")])
        for _ in range(200):
            try:
                socket.create_connection(("127.0.0.1", listen), timeout=1).close()
                break
            except OSError:
                assert nginx.poll() is None, (tmp_path / "error.log").read_text()
                time.sleep(0.05)
        with connect(f"ws://127.0.0.1:{listen}/ws/echo", open_timeout=5) as ws:
            ws.send("whoami")
            assert ws.recv(timeout=5) == "service"
            ws.send(b"\x00" * 100_000)
            assert ws.recv(timeout=5) == b"\x00" * 100_000
        with pytest.raises(InvalidStatus) as refused:  # the route allows no upgrade
            connect(f"ws://127.0.0.1:{listen}/api/echo", open_timeout=5)
        assert refused.value.response.status_code == 400
    finally:
        if nginx is not None:
            nginx.terminate()
            nginx.wait(timeout=30)
        monolith.close()
        service.close()
