"""How a client's request header is treated on its way through the proxy: the kind on_header
(strangler.proxy.request_head) looks up for each name. Dropped, checked for framing, routing or
tracing, or passed on as it is (the default: a name not in the table)."""

from __future__ import annotations

from strangler.proxy.routing import OVERRIDE_COOKIE, CompiledTable

# Request headers that need more than "copy it": value is what on_header does with them.
DROP, CONNECTION, TE, CL, HOST, RID, TRACEPARENT, TRACESTATE, OVERRIDE, EXPECT, UPGRADE = range(11)
# Per route table (header_kinds): a header routing reads, refused twice; Cookie, minus the proxy's override.
SINGLE, COOKIE, COOKIE_SINGLE = range(11, 14)
SPECIAL = {
    b"connection": CONNECTION, b"keep-alive": DROP, b"proxy-authenticate": DROP,
    b"proxy-authorization": DROP, b"te": DROP, b"trailer": DROP, b"upgrade": UPGRADE,
    b"proxy-connection": DROP, b"transfer-encoding": TE, b"content-length": CL, b"host": HOST,
    # The proxy is the edge: whatever a client claims about forwarding is replaced, not trusted.
    b"x-forwarded-for": DROP, b"x-forwarded-proto": DROP, b"x-forwarded-host": DROP, b"forwarded": DROP,
    b"x-request-id": RID, b"traceparent": TRACEPARENT, b"tracestate": TRACESTATE,
    b"x-strangler-override": OVERRIDE, b"expect": EXPECT,
    # Only the proxy signs requests to services (strangler.proxy.credentials); a client's own is dropped.
    b"x-internal-credential": DROP,
}

OVERRIDE_COOKIE_BYTES = OVERRIDE_COOKIE.encode()


def header_kinds(compiled: CompiledTable) -> dict[bytes, int]:
    """on_header's table for a route table: the fixed specials, plus the headers the table routes on
    (refused twice) and the ones the proxy owns (dropped). Built once per compiled table."""
    kinds = compiled.header_kinds
    if kinds is None:
        kinds = dict(SPECIAL)
        for name in compiled.routing_headers:
            # Host and the override keep their own handling. A name with "_" is dropped on arrival
            # (on_header), never kept, so it never counts as a duplicate either: DROP, decided here once.
            kinds.setdefault(name, DROP if b"_" in name else SINGLE)
        kinds[b"cookie"] = COOKIE_SINGLE if b"cookie" in compiled.routing_headers else COOKIE
        for name in compiled.owned_headers:
            kinds[name] = DROP
        compiled.header_kinds = kinds
    return kinds


def without_override_cookie(value: bytes) -> bytes:
    """The Cookie header minus the proxy's own override cookie (read by the proxy, meant for no one else)."""
    kept = [part for part in value.split(b";") if part.strip().partition(b"=")[0] != OVERRIDE_COOKIE_BYTES]
    return b";".join(kept).strip()
