"""Pure routing decisions: which route a request belongs to and which side serves it.

No I/O and no clock reads: the server passes everything in, so every replica and process decides
identically for the same input. For speed, CompiledTable works out each route's decisions once
(RoutePlan) and its decide() reads a canary's cohort header without a further call.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass
from zlib import crc32

from strangler.proxy.types import (
    SAFE_METHODS,
    CohortKey,
    Decision,
    Mode,
    Route,
    RouteTable,
    Side,
)

OVERRIDE_HEADER = b"x-strangler-override"
OVERRIDE_COOKIE = "strangler_override"
SHADOW_HEADER = b"x-strangler-shadow"  # marks the proxy's mirrors (strangler.proxy.shadow)
# Read by every decision whatever the table: the override, and the usual canary key.
ALWAYS_ROUTING_HEADERS = frozenset({OVERRIDE_HEADER, b"authorization", b"host"})
# Members as module constants: on Python 3.11 EnumType defines __getattr__, so `Side.SERVICE` is a slow,
# unspecialisable attribute lookup (about 10x a global's); the hot path reads these instead.
_MONOLITH, _SERVICE = Side.MONOLITH, Side.SERVICE
_MODE_MONOLITH, _MODE_SHADOW, _MODE_CANARY, _MODE_SERVICE = Mode.MONOLITH, Mode.SHADOW, Mode.CANARY, Mode.SERVICE


@dataclass(slots=True)
class RequestInfo:
    """What a decision may depend on. Header names are lower-case bytes."""

    method: str
    headers: Mapping[bytes, bytes]
    client_ip: str


class CompiledTable:
    """A RouteTable with lower-cased/encoded match data precomputed for the hot path."""

    __slots__ = ("table", "_entries", "routing_headers", "owned_headers", "header_kinds", "plans")

    def __init__(self, table: RouteTable) -> None:
        self.table = table
        self.routing_headers = routing_headers(table)
        self.owned_headers = owned_headers(table)
        self.header_kinds: dict[bytes, int] | None = None  # built from the two above by strangler.proxy.request_headers
        self._entries = tuple(
            (
                r.prefix.rstrip("/"),  # "" for "/": matches everything
                r.methods,
                (r.header[0].encode("latin-1"), r.header[1].encode("latin-1")) if r.header else None,
                r,
            )
            for r in table.routes
        )
        # Routes are frozen and a state change swaps the whole table: each route's decisions are fixed here.
        self.plans = {id(r): RoutePlan(r) for r in table.routes}

    def match(self, method: str, path: str, headers: Mapping[bytes, bytes]) -> Route:
        for prefix, methods, header, route in self._entries:
            if prefix and not (
                path.startswith(prefix) and (len(path) == len(prefix) or path[len(prefix)] == "/")
            ):
                continue
            if methods is not None and method not in methods:
                continue
            if header is not None and headers.get(header[0]) != header[1]:
                continue
            return route
        return self.table.routes[-1]  # DEFAULT; only reached if it had filters, which config forbids

    def decide(self, route: Route, method: str, headers: Mapping[bytes, bytes], client_ip: str) -> Decision:
        """decide(route, RequestInfo(method, headers, client_ip)) without an override, for a route of
        this table: from the route's plan, without building a RequestInfo."""
        plan = self.plans.get(id(route))
        if plan is None or plan.route is not route:
            return decide(route, RequestInfo(method, headers, client_ip))
        found = plan.fixed
        if found is not None:
            return found
        if plan.weight:  # canary: the cohort's bucket decides
            name = plan.cohort_header  # _cohort_key's header case, inlined
            value = headers.get(name) if name is not None else None
            bucket = crc32(b"h:" + value if value else _cohort_key(route.cohort, headers, client_ip)) % 100
            return plan.service if bucket < plan.weight else plan.monolith
        return plan.service if method in SAFE_METHODS else plan.monolith  # shadow: safe ones always mirrored


class RoutePlan:
    """A route's decisions worked out once (routing.decide's rule without an override): one fixed
    decision, or the two a canary split (by cohort bucket) or a shadow mode (by method) picks from."""

    __slots__ = ("route", "fixed", "weight", "service", "monolith", "cohort_header")

    def __init__(self, route: Route) -> None:
        self.route = route
        self.fixed: Decision | None = None
        self.weight = 0  # > 0: a canary split
        cohort = route.cohort  # a cohort header's name, encoded once: decide() reads it without a call
        self.cohort_header = cohort.name.encode("latin-1") if cohort.source == "header" else None
        state = route.state
        if route.service is None or state.mode is not _MODE_CANARY and state.mode is not _MODE_SHADOW:
            self.fixed = decide(route, RequestInfo("GET", {}, ""))  # depends on nothing in the request
        elif state.mode is _MODE_CANARY:
            if state.weight >= 100 or state.weight <= 0:
                self.fixed = decide(route, RequestInfo("GET", {}, ""))
            else:
                self.weight = state.weight
        # the sides as decide() names them: canary (service | monolith), shadow (mirrored | not mirrored)
        shadow = state.mode is _MODE_SHADOW
        if shadow:
            self.service = _decision(route, _MONOLITH, True, "shadow")
            self.monolith = _decision(route, _MONOLITH, route.shadow.dry_run_header is not None, "shadow")
        else:
            self.service = _decision(route, _SERVICE, False, "canary")
            self.monolith = _decision(route, _MONOLITH, False, "canary")


def routing_headers(table: RouteTable) -> frozenset[bytes]:
    """Headers a decision reads: a client sending one twice is refused, since the proxy would route on
    one copy while the upstream (gunicorn joins them) sees both."""
    names = set(ALWAYS_ROUTING_HEADERS)
    for route in table.routes:
        if route.header is not None:
            names.add(route.header[0].encode("latin-1"))
        if route.cohort.source == "header":
            names.add(route.cohort.name.encode("latin-1"))
        elif route.cohort.source == "cookie":
            names.add(b"cookie")
    return frozenset(names)


def owned_headers(table: RouteTable) -> frozenset[bytes]:
    """Headers only the proxy sets (dry-run, shadow marker, targets' add_headers): never taken from a client."""
    names = {SHADOW_HEADER}
    for route in table.routes:
        if route.shadow.dry_run_header:
            names.add(route.shadow.dry_run_header.lower().encode("latin-1"))
    for target in table.targets.values():
        names.update(k.lower().encode("latin-1") for k, _ in target.add_headers)
    return frozenset(names)


def match(table: RouteTable, method: str, path: str, headers: Mapping[str, str] | None = None) -> Route:
    """Longest prefix on a path-segment boundary wins; method and header filters must hold."""
    encoded = {k.lower().encode("latin-1"): v.encode("latin-1") for k, v in (headers or {}).items()}
    return CompiledTable(table).match(method.upper(), path.split("?", 1)[0], encoded)


_HEADER_NAMES: dict[str, bytes] = {}  # cohort header names, encoded once (config validates them: few)


def cohort_bucket(key: bytes) -> int:
    """Stable 0..99 bucket: CRC32 is identical in every process, unlike the salted hash()."""
    return crc32(key) % 100


def cohort_key(route: Route, info: RequestInfo) -> bytes:
    """The sticky canary key; the client address when the header or cookie is missing."""
    return _cohort_key(route.cohort, info.headers, info.client_ip)


def _cohort_key(cohort: CohortKey, headers: Mapping[bytes, bytes], client_ip: str) -> bytes:
    source = cohort.source
    if source == "header":
        name = _HEADER_NAMES.get(cohort.name)
        if name is None:
            name = _HEADER_NAMES[cohort.name] = cohort.name.encode("latin-1")
        value = headers.get(name)
        if value:
            return b"h:" + value
    elif source == "cookie":
        value = _cookie(headers.get(b"cookie"), cohort.name)
        if value:
            return b"c:" + value.encode("latin-1")
    return b"ip:" + client_ip.encode("latin-1")


def decide(route: Route, info: RequestInfo, override: Side | None = None) -> Decision:
    state = route.state
    if route.service is None:
        return _decision(route, _MONOLITH, False, "default")
    if override is not None:
        return _decision(route, override, False, "override")
    mode = state.mode
    if mode is _MODE_MONOLITH:
        return _decision(route, _MONOLITH, False, "mode")
    if mode is _MODE_SERVICE:
        return _decision(route, _SERVICE, False, "mode")
    if mode is _MODE_CANARY:
        if state.weight >= 100:
            return _decision(route, _SERVICE, False, "canary")
        if state.weight <= 0:
            return _decision(route, _MONOLITH, False, "canary")
        side = _SERVICE if cohort_bucket(cohort_key(route, info)) < state.weight else _MONOLITH
        return _decision(route, side, False, "canary")
    # Shadow: the monolith answers; anything but a safe method is mirrored only when the service can dry-run it.
    mirror = info.method in SAFE_METHODS or route.shadow.dry_run_header is not None
    return _decision(route, _MONOLITH, mirror, "shadow")


def side_for_bucket(route: Route, bucket: int) -> Side:
    """The side `route` sends a client of canary cohort `bucket` to, without an override: decide()'s
    rule, for a tunnel opened earlier (strangler.proxy.tunnel drains the ones a flip moved)."""
    state = route.state
    if route.service is None or state.mode in (_MODE_MONOLITH, _MODE_SHADOW):
        return _MONOLITH
    if state.mode is _MODE_SERVICE:
        return _SERVICE
    return _SERVICE if bucket < state.weight else _MONOLITH


# id(route) -> (route, its decisions by (side is SERVICE, mirror, reason)); keys of bools and an
# interned str hash in C, where an Enum member's hash is a Python call.
_DECISIONS: dict[int, tuple[Route, dict[tuple[bool, bool, str], Decision]]] = {}


def _decision(route: Route, side: Side, mirror: bool, reason: str) -> Decision:
    """Decisions are immutable and few per route: reuse them instead of building one per request."""
    entry = _DECISIONS.get(id(route))
    if entry is None or entry[0] is not route:  # `is` guards against a recycled id()
        if len(_DECISIONS) > 10_000:
            _DECISIONS.clear()  # tables replaced many times over: start afresh
        entry = _DECISIONS[id(route)] = (route, {})
    key = (side is _SERVICE, mirror, reason)
    found = entry[1].get(key)
    if found is None:
        found = entry[1][key] = Decision(route, side, mirror=mirror, reason=reason)
    return found


def override_value(headers: Mapping[bytes, bytes]) -> str | None:
    """The raw override token from the header, else from the cookie."""
    value = headers.get(OVERRIDE_HEADER)
    if value:
        return value.decode("latin-1")
    return _cookie(headers.get(b"cookie"), OVERRIDE_COOKIE)


def _signature(secret: bytes, payload: str) -> str:
    digest = hmac.new(secret, payload.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def sign_override(secret: bytes | str, side: Side | str, route_name: str, expires_at: int) -> str:
    """Token `side.route.expires.sig`; bound to one route and a unix expiry."""
    key = secret.encode() if isinstance(secret, str) else secret
    payload = f"{Side(side).value}.{route_name}.{int(expires_at)}"
    return f"{payload}.{_signature(key, payload)}"


def verify_override(secret: bytes | str | None, value: str | None, route_name: str, now: float) -> Side | None:
    """The side the token asks for, or None when it is unsigned, tampered, expired or for another route."""
    if not secret or not value or len(value) > 256:
        return None
    parts = value.split(".")
    if len(parts) != 4:
        return None
    side, route, expires, sig = parts
    if route != route_name or side not in ("monolith", "service") or not expires.isdigit():
        return None
    key = secret.encode() if isinstance(secret, str) else secret
    if not hmac.compare_digest(sig.encode(), _signature(key, f"{side}.{route}.{expires}").encode()):
        return None
    if int(expires) <= now:
        return None
    return Side(side)


def _cookie(header: bytes | None, name: str) -> str | None:
    if not header:
        return None
    text = header.decode("latin-1")
    if name not in text:
        return None
    for part in text.split(";"):
        key, sep, value = part.strip().partition("=")
        if sep and key == name:
            return value.strip('"') or None
    return None
