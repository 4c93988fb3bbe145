"""HTTP/1.1 wire details shared by the client and upstream sides: hop-by-hop rules, tracing ids,
framing and the proxy's own JSON error responses. Everything works on bytes."""

from __future__ import annotations

import json
import os
import re
from binascii import hexlify
from collections.abc import Iterator
from http import HTTPStatus
from struct import Struct

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


def valid_traceparent(value: bytes) -> bool:
    """W3C trace-context level 1: version 00 exact; no all-zero ids; version ff is invalid."""
    m = _TRACEPARENT.match(value)
    if m is None:
        return False
    version, trace_id, parent_id, _flags = m.groups()
    if version == b"ff" or trace_id == b"0" * 32 or parent_id == b"0" * 16:
        return False
    return True


# Tracing ids are drawn in batches. Formatting one traceparent from a random integer cost the
# interpreter about 6,000 instructions per request (callgrind); a batch is drawn, hexed and cut into
# ids by C code (os.urandom: the kernel draws 6 KiB at a time), and each request takes the next
# pair: about 2,000 instructions in all.
_ID_BATCH = 256
_ID_HEX = 48  # 32 hex digits of trace id, then 16 of parent id
_ZERO_RUN = b"0" * 16  # an all-zero trace or parent id is invalid: such a batch (p ~ 1e-15) is drawn again
_NEW_TRACEPARENT = b"00-%s-%s-01"
_ID_FIELDS = Struct("32s16s" * _ID_BATCH)  # the hexed batch -> trace id, parent id, trace id, ...
_TRACEPARENTS = Struct("55s" * _ID_BATCH)  # the formatted batch -> one traceparent per request


def _draw_ids() -> Iterator[tuple[bytes, bytes]]:
    """(traceparent, trace id) pairs for the next _ID_BATCH requests."""
    while True:
        hexed = hexlify(os.urandom(_ID_HEX // 2 * _ID_BATCH))
        if _ZERO_RUN not in hexed:
            break
    fields = _ID_FIELDS.unpack(hexed)
    traceparents = _TRACEPARENTS.unpack(_NEW_TRACEPARENT * _ID_BATCH % fields)
    return zip(traceparents, fields[::2], strict=True)


_ids: Iterator[tuple[bytes, bytes]] = iter(())


def _forget_ids() -> None:
    global _ids
    _ids = iter(())  # a forked child draws its own: never the parent's ids


os.register_at_fork(after_in_child=_forget_ids)


def new_trace_ids() -> tuple[bytes, bytes]:
    """A fresh traceparent and a request id equal to its trace id."""
    global _ids
    pair = next(_ids, None)
    if pair is None:
        _ids = _draw_ids()
        pair = next(_ids)
    return pair


def new_request_id() -> bytes:
    return new_trace_ids()[1]


def new_traceparent() -> bytes:
    return new_trace_ids()[0]


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
