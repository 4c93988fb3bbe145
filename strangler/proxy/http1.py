"""HTTP/1.1 wire details shared by the client and upstream sides: hop-by-hop rules, tracing ids,
framing and the proxy's own JSON error responses. Everything works on bytes."""

from __future__ import annotations

import json
import re
from http import HTTPStatus
from random import getrandbits

# Never forwarded in either direction (RFC 9110 7.6.1), plus the legacy Proxy-Connection.
HOP_BY_HOP = frozenset({
    b"connection", b"keep-alive", b"proxy-authenticate", b"proxy-authorization", b"te", b"trailer",
    b"transfer-encoding", b"upgrade", b"proxy-connection",
})

REASONS = {s.value: s.phrase.encode() for s in HTTPStatus}
STATUS_LINES = {code: b"HTTP/1.1 %d %s\r\n" % (code, reason) for code, reason in REASONS.items()}
NO_BODY_STATUS = frozenset({204, 304})

_REQUEST_ID = re.compile(rb"^[A-Za-z0-9._-]{1,128}$")
_TRACEPARENT = re.compile(rb"^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$")


def status_line(status: int) -> bytes:
    line = STATUS_LINES.get(status)
    return line if line is not None else b"HTTP/1.1 %d Unknown\r\n" % status


def connection_tokens(value: bytes) -> list[bytes]:
    return [t.strip().lower() for t in value.split(b",") if t.strip()]


def valid_request_id(value: bytes) -> bool:
    return _REQUEST_ID.match(value) is not None


def new_request_id() -> bytes:
    return b"%032x" % getrandbits(128)


def valid_traceparent(value: bytes) -> bool:
    """W3C trace-context level 1: version 00 exact; no all-zero ids; version ff is invalid."""
    m = _TRACEPARENT.match(value)
    if m is None:
        return False
    version, trace_id, parent_id, _flags = m.groups()
    if version == b"ff" or trace_id == b"0" * 32 or parent_id == b"0" * 16:
        return False
    return True


def new_traceparent() -> bytes:
    return b"00-%032x-%016x-01" % (getrandbits(128) or 1, getrandbits(64) or 1)


def new_trace_ids() -> tuple[bytes, bytes]:
    """A fresh traceparent and a request id equal to its trace id, from one random draw."""
    bits = getrandbits(192)
    traceparent = b"00-%032x-%016x-01" % ((bits >> 64) or 1, (bits & 0xFFFFFFFFFFFFFFFF) or 1)  # one format
    return traceparent, traceparent[3:35]


def chunk_header(size: int) -> bytes:
    return b"%x\r\n" % size


LAST_CHUNK = b"0\r\n\r\n"


def error_response(
    status: int,
    code: str,
    message: str,
    *,
    close: bool = True,
    request_id: bytes | None = None,
    retry_after: int | None = None,
) -> bytes:
    body = json.dumps({"error": {"code": code, "message": message}}).encode()
    parts = [
        status_line(status),
        b"Content-Type: application/json\r\nContent-Length: %d\r\n" % len(body),
        b"Connection: close\r\n" if close else b"",
    ]
    if request_id is not None:
        parts.append(b"X-Request-ID: " + request_id + b"\r\n")
    if retry_after is not None:
        parts.append(b"Retry-After: %d\r\n" % retry_after)
    parts.append(b"\r\n")
    parts.append(body)
    return b"".join(parts)
