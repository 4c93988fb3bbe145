"""The sync gate (strangler.control.sync_gate): a route leaves the monolith only while the
monolith's kit status says each of the context's snapshot events goes to some queue. Against a
real HTTP server standing in for the monolith's /internal/strangler/status (it checks the signed
credential as the monolith does) and a real SQLite route store."""

from __future__ import annotations

import http.server
import json
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from strangler.control.flip_gate import config_guard
from strangler.control.store import FlipRefused, open_store
from strangler.control.sync_gate import sync_guard
from strangler.proxy.config import parse_config
from strangler.proxy.credentials import HEADER, credential_verify
from strangler.proxy.types import Mode, RouteState
from strangler.testing import free_port

SECRET = "sync-gate-secret"


class Monolith:
    """Answers the kit status with ``self.sync`` to the strangler's credential, 401 to anything else."""

    def __init__(self) -> None:
        self.sync: dict = {"payments": {"payments.PaymentSynced": ["payments"]}}
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (http.server's name)
                caller = credential_verify(SECRET, self.headers.get(HEADER), audience="monolith")
                ok = self.path == "/internal/strangler/status" and caller == "strangler"
                body = json.dumps({"dead_letters": 0, "sync": outer.sync} if ok else {"error": {}}).encode()
                self.send_response(200 if ok else 401)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *_args) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def monolith() -> Iterator[Monolith]:
    running = Monolith()
    yield running
    running.close()


def _store(tmp_path: Path, monolith_port: int, *, credential: bool = True):
    data = {
        "admin": {"status_credential": {"caller": "strangler", "secret_env": "SECRET"}} if credential else {},
        "targets": {"monolith": {"url": f"http://127.0.0.1:{monolith_port}"},
                    "payments": {"url": f"http://127.0.0.1:{free_port()}"}},
        "routes": [{"name": "payments", "prefix": "/api/v1/payments", "service": "payments"}],
    }
    config = parse_config(data, env={"SECRET": SECRET})
    return open_store(f"sqlite:///{tmp_path}/routes.db", config.table,
                      guard=config_guard(None, sync_guard(config)))


def _flip(store, mode: Mode, weight: int = 0, force: bool = False):
    return store.set_state("payments", RouteState(mode, weight), actor="test", reason="test", force=force)


def test_a_flip_away_from_the_monolith_needs_its_snapshots_to_go_somewhere(tmp_path, monolith):
    store = _store(tmp_path, monolith.port)
    _flip(store, Mode.SHADOW)  # the monolith sends PaymentSynced to the payments queue
    monolith.sync = {"payments": {"payments.PaymentSynced": [], "payments.IdempotencyRecordSynced": ["payments"]}}
    with pytest.raises(FlipRefused, match=r"sends payments\.PaymentSynced nowhere.*OUTBOX_ROUTES\['payments\."
                                          r"PaymentSynced'\]"):
        _flip(store, Mode.CANARY, 10)
    _flip(store, Mode.MONOLITH)  # going back is never gated
    entry = _flip(store, Mode.SERVICE, force=True)  # forced, and the audit says past what
    assert "nowhere" in entry.reason
    monolith.sync = {"orders": {"orders.OrderSynced": []}}  # payments is not synced by the kit there
    _flip(store, Mode.CANARY, 20)


def test_a_monolith_that_cannot_say_refuses_the_flip(tmp_path, monolith):
    store = _store(tmp_path, free_port())  # nothing listens where the monolith should be
    with pytest.raises(FlipRefused, match="kit status did not answer"):
        _flip(store, Mode.SHADOW)
    _flip(store, Mode.MONOLITH)


def test_without_a_status_credential_there_is_no_sync_gate(tmp_path):
    store = _store(tmp_path, free_port(), credential=False)
    _flip(store, Mode.SERVICE)
