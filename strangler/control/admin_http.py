"""The admin API's HTTP/1.1 plumbing: reading a request head, the response type and writing it.

Deliberately tiny (asyncio streams): the admin port serves operators and scrapers, not client
traffic, and shares no code path with the proxy's data plane.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from typing import Any

MAX_HEADER_BYTES = 16 * 1024
MAX_BODY_BYTES = 64 * 1024
IDLE_TIMEOUT = 30.0

_REASONS = {200: "OK", 201: "Created", 303: "See Other", 400: "Bad Request", 401: "Unauthorized", 403: "Forbidden",
            404: "Not Found", 405: "Method Not Allowed", 409: "Conflict", 413: "Payload Too Large",
            429: "Too Many Requests", 500: "Internal Server Error"}


@dataclass(slots=True)
class Response:
    status: int
    body: bytes
    content_type: str = "application/json"
    headers: tuple[tuple[str, str], ...] = ()

    @classmethod
    def json(cls, status: int, payload: Any) -> Response:
        return cls(status, json.dumps(payload, indent=1).encode() + b"\n")

    @classmethod
    def error(cls, status: int, message: str) -> Response:
        return cls.json(status, {"error": message})


def head_parse(head: bytes) -> tuple[str, str, str, dict[str, str]] | None:
    try:
        lines = head.decode("latin-1").split("\r\n")
        method, target, version = lines[0].split(" ")
    except ValueError:
        return None
    if version not in ("HTTP/1.0", "HTTP/1.1") or not target.startswith("/"):
        return None
    headers: dict[str, str] = {}
    for line in lines[1:]:
        if not line:
            continue
        name, sep, value = line.partition(":")
        if not sep or not name or name != name.strip():
            return None
        headers[name.lower()] = value.strip()
    return method, target, version, headers


async def response_send(writer: asyncio.StreamWriter, response: Response, keep_alive: bool) -> None:
    head = (
        f"HTTP/1.1 {response.status} {_REASONS.get(response.status, 'Error')}\r\n"
        f"Content-Type: {response.content_type}\r\n"
        f"Content-Length: {len(response.body)}\r\n"
        "Cache-Control: no-store\r\n"
        f"Connection: {'keep-alive' if keep_alive else 'close'}\r\n"
    )
    if response.status == 401 and response.content_type == "application/json":
        head += 'WWW-Authenticate: Bearer realm="strangler-admin"\r\n'
    head += "".join(f"{name}: {value}\r\n" for name, value in response.headers)
    writer.write(head.encode() + b"\r\n" + response.body)
    await writer.drain()
