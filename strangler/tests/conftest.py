"""Fixtures that run real processes and sockets: upstream servers in subprocesses, the proxy on a
uvloop loop in a background thread, bound to port 0."""

from __future__ import annotations

import asyncio
import contextlib
import copy
import http.client
import json
import socket
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from pathlib import Path
from typing import Any

import pytest
import uvloop

from strangler.proxy.config import parse_config
from strangler.proxy.server import ProxyServer

HERE = Path(__file__).parent
SECRET = "test-override-secret"


def start_upstream(name: str) -> tuple[subprocess.Popen[str], int]:
    proc = subprocess.Popen(
        [sys.executable, str(HERE / "upstream_app.py"), name, "0"], stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None
    return proc, int(proc.stdout.readline())


@pytest.fixture(scope="session")
def upstreams() -> Iterator[dict[str, int]]:
    procs = {name: start_upstream(name) for name in ("monolith", "service")}
    yield {name: port for name, (_, port) in procs.items()}
    for proc, _ in procs.values():
        proc.kill()
        proc.wait()


def base_config(monolith: int, service: int, **route: Any) -> dict[str, Any]:
    payments = {
        "name": "payments", "prefix": "/api/v1/payments", "service": "payments", "mode": "monolith",
        "weight": 0, "cohort": "header:x-user-id", "fallback": True,
        "retry": {"attempts": 2, "backoff_base": 0.001, "backoff_max": 0.01},
        "breaker": {"failure_threshold": 100, "reset_timeout": 10.0},
        "shadow": {"noise_sample": 1.0, "dry_run_header": "X-Dry-Run"},
    }
    payments.update(route)
    return {
        # No load shedding of mirrors: the test process's own CPU use must not drop them.
        "proxy": {"listen": "127.0.0.1:0", "override_secret_env": "TEST_OVERRIDE_SECRET", "shadow_shed": False,
                  "limits": {"max_body_bytes": 1024 * 1024, "max_header_bytes": 8192, "max_headers": 50,
                             "max_start_line": 2048}},
        "targets": {
            "monolith": {"url": f"http://127.0.0.1:{monolith}", "read_timeout": 5.0},
            "payments": {"url": f"http://127.0.0.1:{service}", "read_timeout": 5.0, "connect_timeout": 0.5},
        },
        "routes": [payments],
    }


class ProxyHandle:
    """A ProxyServer on its own uvloop loop in a thread; call() runs a function on that loop."""

    def __init__(self, config: dict[str, Any], env: dict[str, str] | None = None) -> None:
        self.config = parse_config(config, env={"TEST_OVERRIDE_SECRET": SECRET, **(env or {})})
        self.loop = uvloop.new_event_loop()
        self.server = ProxyServer(self.config)
        ready: Future[None] = Future()

        def run() -> None:
            asyncio.set_event_loop(self.loop)
            try:
                self.loop.run_until_complete(self.server.start())
            except BaseException as exc:  # noqa: BLE001
                ready.set_exception(exc)
                return
            ready.set_result(None)
            self.loop.run_forever()

        self.thread = threading.Thread(target=run, daemon=True)
        self.thread.start()
        ready.result(timeout=10)
        self.port = self.server.port

    def call(self, fn: Callable[[], Any]) -> Any:
        fut: Future[Any] = Future()

        def go() -> None:
            try:
                fut.set_result(fn())
            except BaseException as exc:  # noqa: BLE001
                fut.set_exception(exc)

        self.loop.call_soon_threadsafe(go)
        return fut.result(timeout=10)

    def close(self) -> None:
        asyncio.run_coroutine_threadsafe(self.server.close(), self.loop).result(timeout=15)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=5)

    def request(
        self, method: str, path: str, body: bytes | None = None, headers: dict[str, str] | None = None
    ) -> tuple[int, dict[str, str], bytes]:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        try:
            conn.request(method, path, body=body, headers=headers or {})
            resp = conn.getresponse()
            data = resp.read()
            return resp.status, {k.lower(): v for k, v in resp.getheaders()}, data
        finally:
            conn.close()

    def json(self, method: str, path: str, **kw: Any) -> tuple[int, dict[str, Any]]:
        status, _, data = self.request(method, path, **kw)
        return status, json.loads(data) if data else {}


@pytest.fixture
def make_proxy(upstreams: dict[str, int]) -> Iterator[Callable[..., ProxyHandle]]:
    handles: list[ProxyHandle] = []

    def make(config: dict[str, Any] | None = None, *, service: int | None = None, **route: Any) -> ProxyHandle:
        cfg = copy.deepcopy(config) if config is not None else base_config(
            upstreams["monolith"], upstreams["service"] if service is None else service, **route
        )
        handle = ProxyHandle(cfg)
        handles.append(handle)
        return handle

    yield make
    for handle in handles:
        handle.close()


def hits(port: int) -> dict[str, int]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    conn.request("GET", "/_hits")
    data = json.loads(conn.getresponse().read())
    conn.close()
    return data


def reset_hits(port: int) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    conn.request("POST", "/_reset")
    conn.getresponse().read()
    conn.close()


def raw_exchange(port: int, data: bytes, timeout: float = 5.0) -> tuple[bytes, bool]:
    """Send raw bytes; return everything read until the server closes, and whether it closed."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(data)
        return read_until_closed(sock)


def read_until_closed(sock: socket.socket) -> tuple[bytes, bool]:
    """Everything the peer sends until it closes (True) or the socket's timeout passes (False)."""
    chunks = []
    try:
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                return b"".join(chunks), True
            chunks.append(chunk)
    except TimeoutError:
        return b"".join(chunks), False
    except ConnectionResetError:
        return b"".join(chunks), True


def header_value(headers: list[list[str]], name: str) -> list[str]:
    return [v for k, v in headers if k.lower() == name.lower()]


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """The proxy and the control plane never use DATABASE_URL (the route store's tests run on both
    of its backends, SQLite and PostgreSQL, in every pass): mark them for the PostgreSQL pass to skip."""
    here = Path(__file__).resolve().parent
    for item in items:
        if here in Path(str(item.fspath)).resolve().parents:
            item.add_marker(pytest.mark.db_independent)


@contextlib.contextmanager
def proxy_in_process(config: Path) -> Iterator[tuple[int, int]]:
    """The proxy of ``config`` in a process of its own (strangler.tests.proxy_proc), for tests that
    measure it apart from the test's own memory: yields (pid, port); killed afterwards."""
    proc = subprocess.Popen([sys.executable, "-m", "strangler.tests.proxy_proc", str(config)], stdout=subprocess.PIPE,
                            text=True, cwd=HERE.parent.parent)
    try:
        assert proc.stdout is not None
        yield proc.pid, int(proc.stdout.readline())
    finally:
        proc.kill()
        proc.wait()
