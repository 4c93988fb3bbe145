"""Comparing two HTTP answers field by field, for shadow traffic and its noise estimate."""

from __future__ import annotations

import json
from typing import Any

from strangler.proxy.types import Route

MAX_BODY = 1024 * 1024  # bodies are compared up to this size; larger ones only by status and headers
_MISSING = "<missing>"
# compare_headers of a route -> (lower-case name as bytes, diff field); routes are few and rarely change.
_HEADER_KEYS: dict[tuple[str, ...], tuple[tuple[bytes, str], ...]] = {}


class Response:
    __slots__ = ("status", "headers", "body", "truncated")

    def __init__(self, status: int, headers: list[tuple[bytes, bytes]], body: bytes, truncated: bool) -> None:
        self.status = status
        self.headers = headers
        self.body = body
        self.truncated = truncated


def compare(a: Response, b: Response, route: Route) -> dict[str, tuple[Any, Any]]:
    """Differences between two answers as {field: (a value, b value)}; ignored paths are skipped."""
    diffs: dict[str, tuple[Any, Any]] = {}
    if a.status != b.status:
        diffs["status"] = (a.status, b.status)
    names = route.shadow.compare_headers
    keys = _HEADER_KEYS.get(names)
    if keys is None:
        keys = _HEADER_KEYS[names] = tuple((n.lower().encode("latin-1"), f"header:{n.lower()}") for n in names)
    for key, field in keys:
        va, vb = _header(a.headers, key), _header(b.headers, key)
        if va != vb:
            diffs[field] = (va, vb)
    if a.truncated or b.truncated:
        return diffs  # bodies too large to compare fairly
    if a.body == b.body:
        return diffs
    ja, jb = _json(a.body), _json(b.body)
    if ja is _MISSING or jb is _MISSING:
        diffs["body"] = (_preview(a.body), _preview(b.body))
        return diffs
    ignore = [tuple(p.split(".")) for p in route.shadow.ignore_paths]
    fa, fb = flatten(ja), flatten(jb)
    for key in fa.keys() | fb.keys():
        va, vb = fa.get(key, _MISSING), fb.get(key, _MISSING)
        if va != vb and not _ignored(key, ignore):
            diffs[key or "body"] = (va, vb)
    return diffs


def flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    """{"a": {"b": [1]}} -> {"a.b.0": 1}; empty containers are leaves."""
    out: dict[str, Any] = {}
    if isinstance(value, dict) and value:
        for k, v in value.items():
            out.update(flatten(v, f"{prefix}.{k}" if prefix else str(k)))
    elif isinstance(value, list) and value:
        for i, v in enumerate(value):
            out.update(flatten(v, f"{prefix}.{i}" if prefix else str(i)))
    else:
        out[prefix] = value
    return out


def _ignored(key: str, patterns: list[tuple[str, ...]]) -> bool:
    parts = key.split(".")
    for pattern in patterns:
        if len(pattern) <= len(parts) and all(p == "*" or p == k for p, k in zip(pattern, parts, strict=False)):
            return True  # a pattern also covers everything below it
    return False


def _header(headers: list[tuple[bytes, bytes]], key: bytes) -> str | None:
    for name, value in headers:
        if len(name) == len(key) and name.lower() == key:
            return value.decode("latin-1")
    return None


def _json(body: bytes) -> Any:
    try:
        return json.loads(body)
    except ValueError:
        return _MISSING


def _preview(body: bytes) -> str:
    return body[:200].decode("utf-8", "replace")
