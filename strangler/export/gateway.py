"""The route table as a Kubernetes Gateway API ``HTTPRoute``, for a team that outgrows one machine.

Pure functions: a table and its current states in, a plain dict (and its YAML text) out. The
Gateway API expresses prefixes, methods, header matches, weights and mirrors; what it cannot
express (sticky cohorts, fallback, retries, breakers, response diffing, credential signing) is
written into the document's annotations, so nobody applies it believing it does the same. Tunnels
(WebSocket upgrades) have no field in an HTTPRoute: each route's upgrade settings are written into
the ``strangler.dev/tunnels`` annotation, and what a Gateway does differently into the notes.

Precedence: the strangler walks routes longest prefix first, declaration order among equal
prefixes, and a request whose method or header does not match falls through to the next route.
Gateway API implementations pick the longest PathPrefix (on segment boundaries, like the
strangler), then a method match, then the most header matches, then rule order: the same result
except between routes sharing a prefix, which the annotations point out.
"""

from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

from strangler.proxy.types import (
    DEFAULT_ROUTE,
    MONOLITH,
    SAFE_METHODS,
    Mode,
    Route,
    RouteState,
    RouteTable,
)

API_VERSION = "gateway.networking.k8s.io/v1"
ANNOTATION = "strangler.dev/"
# HTTPRouteMatch.method is an enum; other methods cannot be matched by a Gateway.
GATEWAY_METHODS = ("GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH")
MAX_RULES = 16  # HTTPRoute.spec.rules maxItems in gateway.networking.k8s.io/v1
CREDENTIAL_HEADER = "X-Internal-Credential"
_DNS_LABEL = re.compile(r"[^a-z0-9-]+")
_PATH_SAFE = "/-._~!$&'()*+,;=:@%"  # HTTPPathMatch.value allows these; others are percent-encoded, as on the wire


class ExportError(ValueError):
    """The table cannot be exported to this format; the message names the route at fault."""


def default_backends(table: RouteTable) -> dict[str, tuple[str, int]]:
    """Target -> (Service name, port) from the target URLs: ``http://payments.shop.svc:8000`` gives
    ``("payments", 8000)``; an IP address or localhost gives the target's own name, since a URL like
    ``http://127.0.0.1:8002`` names no Service."""
    backends: dict[str, tuple[str, int]] = {}
    for name, target in table.targets.items():
        host = target.host
        label = name if _is_address(host) else host.split(".", 1)[0]
        backends[name] = (_DNS_LABEL.sub("-", label.lower()).strip("-") or "backend", target.port)
    return backends


def httproute_export(
    table: RouteTable,
    states: Mapping[str, RouteState],
    *,
    name: str = "strangler",
    namespace: str | None = None,
    gateway: str = "gateway",
    backends: Mapping[str, tuple[str, int]] | None = None,
    source: str = "",
) -> dict[str, Any]:
    """One HTTPRoute for the whole table: rules in the table's order of precedence, the DEFAULT
    route last as PathPrefix "/" to the monolith."""
    table = table.with_states(states)
    refs = dict(backends) if backends is not None else default_backends(table)
    missing = sorted(set(table.targets) - set(refs))
    if missing:
        raise ExportError(f"no backend (Service name, port) for target(s) {', '.join(missing)}")
    strip_credential = any(t.credential_caller for t in table.targets.values())
    rules: list[dict[str, Any]] = []
    summary: list[str] = []
    notes: list[str] = []
    for route in table.routes:
        start = len(rules)
        for matches, backend_refs, mirror in _route_rules(route, refs, notes):
            rule: dict[str, Any] = {"matches": matches}
            filters = _filters(mirror, strip_credential)
            if filters:
                rule["filters"] = filters
            rule["backendRefs"] = backend_refs
            rules.append(rule)
        count = len(rules) - start
        span = f"rules[{start}]" if count == 1 else f"rules[{start}-{start + count - 1}]" if count else "no rule"
        summary.append(f"{span}: {route.name} {route.prefix} {_describe(route)}")
        notes.extend(_route_notes(route))
    if len(rules) > MAX_RULES:
        raise ExportError(f"{len(rules)} rules: an HTTPRoute holds at most {MAX_RULES}; split the route table")
    notes.extend(_shared_prefix_notes(table))
    for target in table.targets.values():
        if target.credential_caller:
            notes.append(
                f"target {target.name}: the strangler signs requests with {CREDENTIAL_HEADER} (caller "
                f"{target.credential_caller}); a Gateway cannot, so {refs[target.name][0]} must accept "
                "the gateway through its own credential (clients' copies of the header are removed)"
            )
    extended = [feature for feature, used in (
        ("method matches", any("method" in m for r in rules for m in r["matches"])),
        ("RequestMirror", any(f["type"] == "RequestMirror" for r in rules for f in r.get("filters", ()))),
    ) if used]
    if extended:
        notes.append(f"this document uses Extended Gateway API features ({', '.join(extended)}): check that "
                     "your implementation supports them")
    notes.append("everywhere: signed overrides (X-Strangler-Override), per-target timeouts, X-Request-ID "
                 "and traceparent generation are the strangler's own")
    tunnels = [f"{r.name}: upgrades {', '.join(r.tunnel.upgrades)}; idle_timeout {r.tunnel.idle_timeout:g}s, "
               f"max_lifetime {r.tunnel.max_lifetime:g}s" for r in table.routes if r.tunnel.upgrades]
    if tunnels:
        notes.append("tunnels: a Gateway passes a WebSocket upgrade to whichever backend the rule picks (give the "
                     "backend's Service port appProtocol kubernetes.io/ws where the implementation asks for it) "
                     "and times it out its own way: no tunnel idle_timeout or max_lifetime, no caps on open "
                     "tunnels, no drain on a flip (open tunnels stay), upgrades a route does not allow are not "
                     "refused; no rule sets timeouts.request, which would end tunnels; shadow mirrors no tunnel")
    annotations = {
        ANNOTATION + "generated-by": "strangler export --format gateway",
        ANNOTATION + "source": source or "route table",
        ANNOTATION + "backends": "\n".join(_backend_line(t, refs, table, backends is None) for t in table.targets),
        ANNOTATION + "rules": "\n".join(summary),
        ANNOTATION + "not-expressed": "\n".join(notes),
    }
    if tunnels:
        annotations[ANNOTATION + "tunnels"] = "\n".join(tunnels)
    metadata: dict[str, Any] = {"name": name}
    if namespace:
        metadata["namespace"] = namespace
    metadata["annotations"] = annotations
    return {
        "apiVersion": API_VERSION,
        "kind": "HTTPRoute",
        "metadata": metadata,
        "spec": {"parentRefs": [{"name": gateway}], "rules": rules},
    }


# -- rules ---------------------------------------------------------------------------------
Rule = tuple[list[dict[str, Any]], list[dict[str, Any]], dict[str, Any] | None]


def _route_rules(route: Route, refs: Mapping[str, tuple[str, int]], notes: list[str]) -> list[Rule]:
    """(matches, backendRefs, mirror backendRef or None) for each rule the route needs."""
    methods: list[str] | None = None
    if route.methods is not None:
        methods = [m for m in GATEWAY_METHODS if m in route.methods]
        dropped = sorted(route.methods - set(GATEWAY_METHODS))
        if dropped:
            notes.append(f"{route.name}: methods {' '.join(dropped)} cannot be matched by a Gateway; "
                         "such requests go to the next route")
        if not methods:
            return []
    monolith = _ref(refs, MONOLITH)
    if route.service is None:
        return [(_matches(route, methods), [monolith], None)]
    service = _ref(refs, route.service)
    mode, weight = route.state.mode, route.state.weight
    if mode is Mode.MONOLITH:
        return [(_matches(route, methods), [monolith], None)]
    if mode is Mode.SERVICE:
        return [(_matches(route, methods), [service], None)]
    if mode is Mode.CANARY:
        weight = max(0, min(100, weight))
        return [(_matches(route, methods), [{**monolith, "weight": 100 - weight}, {**service, "weight": weight}],
                 None)]
    # Shadow: a Gateway mirrors every request its rule matches and cannot add a dry-run header to
    # the mirror alone, so only the methods the strangler mirrors without one get the mirror.
    candidates = methods if methods is not None else list(GATEWAY_METHODS)
    mirrored = [m for m in candidates if m in SAFE_METHODS]
    rest = [m for m in candidates if m not in SAFE_METHODS]
    rules: list[Rule] = []
    if mirrored:
        rules.append((_matches(route, mirrored), [monolith], service))
    if methods is None:
        rules.append((_matches(route, None), [monolith], None))  # less specific than the method matches
    elif rest:
        rules.append((_matches(route, rest), [monolith], None))
    return rules


def _matches(route: Route, methods: list[str] | None) -> list[dict[str, Any]]:
    out = []
    for method in methods or [None]:
        match: dict[str, Any] = {"path": {"type": "PathPrefix", "value": quote(route.prefix, safe=_PATH_SAFE)}}
        if method is not None:
            match["method"] = method
        if route.header is not None:
            match["headers"] = [{"type": "Exact", "name": route.header[0], "value": route.header[1]}]
        out.append(match)
    return out


def _filters(mirror: dict[str, Any] | None, strip_credential: bool) -> list[dict[str, Any]]:
    filters: list[dict[str, Any]] = []
    if strip_credential:  # the strangler drops a client's credential before any upstream sees it
        filters.append({"type": "RequestHeaderModifier", "requestHeaderModifier": {"remove": [CREDENTIAL_HEADER]}})
    if mirror is not None:
        filters.append({"type": "RequestMirror", "requestMirror": {"backendRef": mirror}})
    return filters


def _ref(refs: Mapping[str, tuple[str, int]], target: str) -> dict[str, Any]:
    service, port = refs[target]
    return {"name": service, "port": port}


# -- annotations ---------------------------------------------------------------------------
def _describe(route: Route) -> str:
    state = route.state
    if route.name == DEFAULT_ROUTE or route.service is None:
        return "-> monolith (default)"
    filters = ""
    if route.methods is not None:
        filters += f" [{' '.join(m for m in sorted(route.methods))}]"
    if route.header is not None:
        filters += f" [{route.header[0]}: {route.header[1]}]"
    if state.mode is Mode.CANARY:
        return f"canary {state.weight}% -> {route.service}{filters}"
    if state.mode is Mode.SHADOW:
        return f"shadow -> monolith, mirrored to {route.service}{filters}"
    return f"{state.mode.value} -> {route.service if state.mode is Mode.SERVICE else MONOLITH}{filters}"


def _route_notes(route: Route) -> list[str]:
    state = route.state
    if route.service is None:
        return []
    notes = []
    if state.mode is Mode.CANARY and 0 < state.weight < 100:
        notes.append(f"{route.name}: the weights split each request; the strangler keeps each cohort "
                     f"({_cohort(route)}) on one side")
    if state.mode is Mode.SERVICE or (state.mode is Mode.CANARY and state.weight > 0):
        missing = []
        if route.fallback:
            missing.append("no fallback to the monolith when the service fails")
        if route.retry.attempts:
            missing.append(f"no retries ({route.retry.attempts} for safe methods)")
        missing.append(f"no circuit breaker (opens after {route.breaker.failure_threshold} failures)")
        notes.append(f"{route.name}: {', '.join(missing)}")
    if state.mode is Mode.SHADOW:
        note = (f"{route.name}: mirrors are not compared (no response diffing, no noise estimate), not shed "
                "under load and carry no X-Strangler-Shadow header")
        if route.shadow.dry_run_header:
            note += (f"; methods other than GET, HEAD and OPTIONS are not mirrored, since a Gateway cannot add "
                     f"{route.shadow.dry_run_header} to the mirror only")
        notes.append(note)
    return notes


def _backend_line(target: str, refs: Mapping[str, tuple[str, int]], table: RouteTable, derived: bool) -> str:
    line = f"{target} -> {refs[target][0]}:{refs[target][1]}"
    if derived and _is_address(table.targets[target].host):
        line += " (named after the target: its URL has no host name)"
    return line


def _cohort(route: Route) -> str:
    cohort = route.cohort
    return "client address" if cohort.source == "client_ip" else f"{cohort.source} {cohort.name}"


def _shared_prefix_notes(table: RouteTable) -> list[str]:
    by_prefix: dict[str, list[str]] = {}
    for route in table.routes:
        by_prefix.setdefault(route.prefix, []).append(route.name)
    return [
        f"routes {', '.join(names)} share prefix {prefix}: the strangler tries them in that order, a Gateway "
        "prefers method matches, then more header matches"
        for prefix, names in by_prefix.items() if len(names) > 1
    ]


def _is_address(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


# -- YAML ----------------------------------------------------------------------------------
_PLAIN = re.compile(r"^[A-Za-z/][A-Za-z0-9._/-]*$")
_YAML_WORDS = frozenset({"y", "n", "yes", "no", "on", "off", "true", "false", "null"})


def to_yaml(document: Mapping[str, Any]) -> str:
    """Block-style YAML for this document's shape (mappings, lists, strings, ints).

    Written here rather than with PyYAML because the strangler package does not depend on it and
    the output must be byte-for-byte stable for review and diffs: keys keep their order, strings
    that could read as anything else are JSON-quoted (valid YAML), multi-line notes are literal
    blocks. kubectl reads it like any manifest."""
    return "\n".join(_yaml_mapping(document, 0)) + "\n"


def _yaml_mapping(mapping: Mapping[str, Any], indent: int) -> list[str]:
    lines = []
    pad = " " * indent
    for key, value in mapping.items():
        head = f"{pad}{_scalar(str(key))}:"
        lines.extend(_yaml_value(head, value, indent))
    return lines


def _yaml_value(head: str, value: Any, indent: int) -> list[str]:
    if isinstance(value, Mapping) and value:
        return [head] + _yaml_mapping(value, indent + 2)
    if isinstance(value, list) and value:
        lines = [head]
        for item in value:
            if isinstance(item, Mapping) and item:
                body = _yaml_mapping(item, indent + 4)
                lines.append(" " * (indent + 2) + "- " + body[0].lstrip())
                lines.extend(body[1:])
            else:
                lines.extend(_yaml_value(" " * (indent + 2) + "-", item, indent + 2))
        return lines
    if isinstance(value, str) and _literal_block(value):
        return [head + " |-"] + [" " * (indent + 2) + line for line in value.split("\n")]
    return [f"{head} {_scalar(value)}"]


def _scalar(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, Mapping):
        return "{}"
    if isinstance(value, list):
        return "[]"
    text = str(value)
    if _PLAIN.match(text) and text.lower() not in _YAML_WORDS:
        return text
    return json.dumps(text)


def _literal_block(text: str) -> bool:
    lines = text.split("\n")
    return len(lines) > 1 and all(
        line and line == line.strip() and all(" " <= c <= "~" for c in line) for line in lines
    )
