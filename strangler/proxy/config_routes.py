"""The ``[[routes]]`` of the route table: each route's prefix, service, state and policies (retry,
breaker, shadow, deadlines, tunnel), checked at load time (strangler.proxy.config reads the rest)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from strangler.proxy.config_values import (
    HEADER_NAME,
    METHOD,
    ROUTE_NAME,
    ConfigError,
    as_bool,
    check_keys,
    policy_from,
    table_of,
)
from strangler.proxy.types import (
    DEFAULT_ROUTE,
    MONOLITH,
    BreakerPolicy,
    CohortKey,
    DeadlinePolicy,
    Mode,
    RetryPolicy,
    Route,
    RouteState,
    ShadowPolicy,
    Target,
    TunnelPolicy,
)

_ROUTE_KEYS = {"name", "prefix", "service", "mode", "weight", "cohort", "fallback", "methods", "header",
               "idempotency_key_honoured",
               "retry", "breaker", "shadow", "deadlines", "tunnel"}


def routes_parse(raw: Any, targets: Mapping[str, Target]) -> tuple[Route, ...]:
    if not isinstance(raw, list):
        raise ConfigError("[[routes]]: expected an array of tables")
    routes: list[Route] = []
    seen: set[str] = set()
    default: Route | None = None
    for i, spec in enumerate(raw):
        if not isinstance(spec, Mapping):
            raise ConfigError(f"routes[{i}]: expected a table")
        name = spec.get("name")
        if not isinstance(name, str) or not ROUTE_NAME.match(name):
            raise ConfigError(f"routes[{i}] name: expected 1-64 letters, digits, '_' or '-', got {name!r}")
        where = f"route {name!r}"
        if name in seen:
            raise ConfigError(f"{where}: duplicate route name")
        seen.add(name)
        check_keys(spec, where, _ROUTE_KEYS)
        route = _route(spec, name, where, targets)
        if name == DEFAULT_ROUTE:
            if route.prefix != "/" or route.service is not None or route.state.mode != Mode.MONOLITH:
                raise ConfigError(f"{where}: DEFAULT must have prefix '/', no service and mode 'monolith'")
            default = route
        else:
            routes.append(route)
    routes.sort(key=lambda r: -len(r.prefix))  # stable: declaration order among equal prefixes
    routes.append(default or Route(name=DEFAULT_ROUTE, prefix="/", service=None))
    return tuple(routes)


def _route(spec: Mapping[str, Any], name: str, where: str, targets: Mapping[str, Target]) -> Route:
    prefix = spec.get("prefix")
    if not isinstance(prefix, str) or not prefix.startswith("/") or any(c in prefix for c in "?# \t\r\n"):
        raise ConfigError(f"{where} prefix: must be a path starting with '/', got {prefix!r}")
    if len(prefix) > 1:
        prefix = prefix.rstrip("/")
    service = spec.get("service")
    if name != DEFAULT_ROUTE:
        if not isinstance(service, str):
            raise ConfigError(f"{where} service: required, the name of a [targets] entry")
        if service not in targets:
            raise ConfigError(f"{where} service: {service!r} is not a defined target")
        if service == MONOLITH:
            raise ConfigError(f"{where} service: must not be the monolith target")
    mode_raw = spec.get("mode", "monolith")
    try:
        mode = Mode(mode_raw)
    except ValueError:
        raise ConfigError(
            f"{where} mode: unknown mode {mode_raw!r}; expected one of {', '.join(m.value for m in Mode)}"
        ) from None
    weight = spec.get("weight", 0)
    if not isinstance(weight, int) or isinstance(weight, bool) or not 0 <= weight <= 100:
        raise ConfigError(f"{where} weight: expected an integer 0-100, got {weight!r}")
    methods = spec.get("methods")
    if methods is not None:
        if not isinstance(methods, list) or not methods or not all(
            isinstance(m, str) and METHOD.match(m.upper()) for m in methods
        ):
            raise ConfigError(f"{where} methods: expected a non-empty list of HTTP methods")
        methods = frozenset(m.upper() for m in methods)
    header = spec.get("header")
    if header is not None:
        header = _header_filter(header, where)
    return Route(
        name=name,
        prefix=prefix,
        service=service if name != DEFAULT_ROUTE else None,
        methods=methods,
        header=header,
        state=RouteState(mode=mode, weight=weight),
        cohort=_cohort(spec.get("cohort", "client_ip"), where),
        fallback=as_bool(spec.get("fallback", True), f"{where} fallback"),
        idempotency_key_honoured=as_bool(spec.get("idempotency_key_honoured", False),
                                       f"{where} idempotency_key_honoured"),
        retry=policy_from(RetryPolicy, table_of(spec, "retry", f"{where} retry"), f"{where} retry"),
        breaker=policy_from(BreakerPolicy, table_of(spec, "breaker", f"{where} breaker"), f"{where} breaker"),
        shadow=_shadow(table_of(spec, "shadow", f"{where} shadow"), where),
        deadlines=_deadlines(table_of(spec, "deadlines", f"{where} deadlines"), where),
        tunnel=_tunnel(table_of(spec, "tunnel", f"{where} tunnel"), where),
    )


def _header_filter(raw: Any, where: str) -> tuple[str, str]:
    if isinstance(raw, str) and ":" in raw:
        name, _, value = raw.partition(":")
    elif isinstance(raw, Mapping) and set(raw) == {"name", "value"}:
        name, value = raw["name"], raw["value"]
    else:
        raise ConfigError(f"{where} header: expected 'name: value' or {{name, value}}")
    name, value = str(name).strip(), str(value).strip()
    if not HEADER_NAME.match(name):
        raise ConfigError(f"{where} header: invalid header name {name!r}")
    return (name.lower(), value)


def _cohort(raw: Any, where: str) -> CohortKey:
    if raw == "client_ip":
        return CohortKey("client_ip")
    if isinstance(raw, str):
        source, _, name = raw.partition(":")
        if source in ("header", "cookie") and name and HEADER_NAME.match(name):
            return CohortKey(source, name.lower() if source == "header" else name)
    raise ConfigError(f"{where} cohort: expected 'header:<name>', 'cookie:<name>' or 'client_ip', got {raw!r}")


def _shadow(raw: Mapping[str, Any], where: str) -> ShadowPolicy:
    policy = policy_from(ShadowPolicy, raw, f"{where} shadow")
    if not 0.0 <= policy.noise_sample <= 1.0:
        raise ConfigError(f"{where} shadow noise_sample: expected 0.0-1.0, got {policy.noise_sample!r}")
    if policy.dry_run_header is not None and not HEADER_NAME.match(policy.dry_run_header):
        raise ConfigError(f"{where} shadow dry_run_header: invalid header name")
    return policy


def _deadlines(raw: Mapping[str, Any], where: str) -> DeadlinePolicy:
    policy = policy_from(DeadlinePolicy, raw, f"{where} deadlines")
    for key in ("body", "response"):
        if getattr(policy, key) <= 0:
            raise ConfigError(f"{where} deadlines {key}: expected a positive number of seconds")
    for media in policy.stream_types:
        if "/" not in media or media != media.strip().lower():
            raise ConfigError(f"{where} deadlines stream_types: expected lower-case media types, got {media!r}")
    return policy


def _tunnel(raw: Mapping[str, Any], where: str) -> TunnelPolicy:
    """``tunnel = {upgrades = ["websocket"], idle_timeout = 300, max_lifetime = 3600}``."""
    policy = policy_from(TunnelPolicy, raw, f"{where} tunnel")
    for token in policy.upgrades:
        if not HEADER_NAME.match(token) or token != token.lower():
            raise ConfigError(f"{where} tunnel upgrades: expected lower-case protocol names, got {token!r}")
    return policy
