"""The admin side's poll of each service's kit status (strangler.dashboard.backends), against real
servers on loopback: what a service answers is shown and exported; a service that is down, slow,
refuses the credential or answers garbage shows its error, never a zero."""

from __future__ import annotations

import asyncio
import json

from strangler.dashboard.backends import MAX_STATUS_BYTES, STATUS_PATH, Backends
from strangler.dashboard.page import backends_table
from strangler.proxy.credentials import HEADER, CredentialSource, credential_verify
from strangler.testing import free_port

SECRET = b"status-test-secret"


async def _serve(handler) -> tuple[asyncio.Server, int]:
    server = await asyncio.start_server(handler, "127.0.0.1", 0)
    return server, server.sockets[0].getsockname()[1]


def _service(document: object, *, status: int = 200, seen: list | None = None):
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
        headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in head[1:] if line)}
        if seen is not None:
            seen.append((head[0], headers))
        value = headers.get(HEADER.lower()) or ""
        audience = value.split(".")[2] if value.count(".") == 4 else "-"
        caller = credential_verify(SECRET, value, audience=audience)
        code, body = (status, json.dumps(document).encode()) if caller == "strangler" else (401, b'{"error": {}}')
        writer.write(f"HTTP/1.1 {code} X\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n"
                     f"Connection: close\r\n\r\n".encode() + body)
        await writer.drain()
        writer.close()
    return handle


def _backends(targets: dict[str, int], *, caller: str = "strangler", timeout: float = 3.0) -> Backends:
    return Backends({name: ("127.0.0.1", port) for name, port in targets.items()},
                    {name: CredentialSource(SECRET, caller, audience=name) for name in targets}, timeout=timeout)


def test_each_services_counts_are_shown_and_exported():
    async def run() -> None:
        seen: list = []
        mono, mono_port = await _serve(_service({"dead_letters": 2, "outbox_pending": 0,
                                                 "conflicts": {"payments": 3}}, seen=seen))
        pay, pay_port = await _serve(_service({"dead_letters": 0, "outbox_pending": 5, "conflicts": {},
                                               "route_followers": {"payments": {"read_failures": 4,
                                                                                "stale_seconds": 12.5}}}))
        async with mono, pay:
            backends = _backends({"monolith": mono_port, "payments": pay_port})
            await backends.poll()
        view = backends.view()
        assert view["monolith"]["ok"] and view["monolith"]["conflicts"] == {"payments": 3}
        assert view["monolith"]["dead_letters"] == 2 and view["payments"]["outbox_pending"] == 5
        assert seen[0][0] == f"GET {STATUS_PATH} HTTP/1.0"
        lines = backends.metrics_lines()
        assert 'strangler_backend_sync_conflicts{target="monolith",context="payments"} 3' in lines
        assert 'strangler_backend_dead_letters{target="monolith"} 2' in lines
        assert 'strangler_backend_outbox_pending{target="payments"} 5' in lines
        assert 'strangler_backend_status_up{target="payments"} 1' in lines
        assert 'strangler_backend_route_store_read_failures{target="payments",route="payments"} 4' in lines
        html = backends_table({"backends": view})
        assert "route store unreadable: payments for 12.5 s" in html and "monolith" in html

    asyncio.run(run())


def test_a_service_that_cannot_answer_shows_why_and_no_counts():
    async def run() -> None:
        async def slow(reader, writer) -> None:
            await asyncio.sleep(5)
            writer.close()

        async def huge(reader, writer) -> None:
            await reader.readuntil(b"\r\n\r\n")
            writer.write(b"HTTP/1.1 200 OK\r\n\r\n" + b"x" * (MAX_STATUS_BYTES + 10))
            await writer.drain()
            writer.close()

        wrong, wrong_port = await _serve(_service({"dead_letters": 0}))
        garbage, garbage_port = await _serve(_service("not an object"))
        stall, stall_port = await _serve(slow)
        big, big_port = await _serve(huge)
        async with wrong, garbage, stall, big:
            backends = _backends({"down": free_port(), "garbage": garbage_port, "slow": stall_port,
                                  "huge": big_port}, timeout=0.5)
            await backends.poll()
            refused = _backends({"wrong-caller": wrong_port}, caller="monolith")
            await refused.poll()
        view = {**backends.view(), **refused.view()}
        assert not any(status["ok"] for status in view.values()), view
        assert "Connection" in view["down"]["error"] or "refused" in view["down"]["error"].lower()
        assert view["slow"]["error"] == "no answer in 0.5 s"
        assert "larger than" in view["huge"]["error"]
        assert view["garbage"]["error"] == "the status is not a JSON object"
        assert view["wrong-caller"]["error"] == f"HTTP 401 from {STATUS_PATH}"
        lines = backends.metrics_lines()
        assert 'strangler_backend_status_up{target="down"} 0' in lines
        assert not [line for line in lines if line.startswith("strangler_backend_dead_letters{")]

    asyncio.run(run())


def test_without_a_status_credential_nothing_is_polled():
    backends = Backends({"monolith": ("127.0.0.1", free_port())}, None)
    asyncio.run(backends.poll())
    assert backends.view() == {} and backends.metrics_lines() == []
