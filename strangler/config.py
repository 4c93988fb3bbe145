"""Load and validate the route table file (TOML).

Every mistake is reported at load time with the route or key that caused it, so a bad file never
reaches a running proxy.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from strangler.types import (
    DEFAULT_ROUTE,
    MONOLITH,
    BreakerPolicy,
    CohortKey,
    Limits,
    Mode,
    RetryPolicy,
    Route,
    RouteState,
    RouteTable,
    ShadowPolicy,
    Target,
)

_ROUTE_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_CALLER = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")
_HEADER_NAME = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")
_METHOD = re.compile(r"^[A-Z]{1,20}$")


class ConfigError(ValueError):
    """The route table file is invalid; the message names the route or key at fault."""


@dataclass(frozen=True, slots=True)
class ProxyConfig:
    listen_host: str
    listen_port: int
    admin_host: str
    admin_port: int
    admin_token_env: str
    store_url: str
    redis_url: str | None
    override_secret_env: str
    override_secret: bytes | None  # None disables overrides
    limits: Limits
    table: RouteTable
    access_log: bool = True
    shadow_concurrency: int = 32  # mirrors in flight; more are dropped and counted
    shadow_shed: bool = True  # drop most mirrors while the proxy's core is saturated
    retry_buffer_bytes: int = 64 * 1024  # request bodies up to this size are kept for a retry
    contracts_record: str | None = None  # verification record gating canary/service flips (strangler.contracts)


def load_config(path: str | os.PathLike[str], env: Mapping[str, str] | None = None) -> ProxyConfig:
    try:
        data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"cannot read config {path}: {exc}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: invalid TOML: {exc}") from exc
    return parse_config(data, env)


def parse_config(data: Mapping[str, Any], env: Mapping[str, str] | None = None) -> ProxyConfig:
    env = os.environ if env is None else env
    _keys(data, "top level", {"proxy", "admin", "store", "targets", "routes", "contracts"})
    proxy = _table(data, "proxy", "proxy")
    _keys(proxy, "[proxy]", {"listen", "override_secret_env", "limits", "access_log", "shadow_concurrency",
                             "shadow_shed", "retry_buffer_bytes"})
    admin = _table(data, "admin", "admin")
    _keys(admin, "[admin]", {"listen", "token_env"})
    store = _table(data, "store", "store")
    _keys(store, "[store]", {"url", "redis_url"})
    contracts = _table(data, "contracts", "contracts")
    _keys(contracts, "[contracts]", {"record"})

    listen_host, listen_port = _hostport(proxy.get("listen", "127.0.0.1:8000"), "[proxy] listen")
    admin_host, admin_port = _hostport(admin.get("listen", "127.0.0.1:8100"), "[admin] listen")
    secret_env = _str(proxy.get("override_secret_env", "STRANGLER_OVERRIDE_SECRET"), "[proxy] override_secret_env")
    secret = env.get(secret_env, "") if secret_env else ""
    redis_url = _str(store.get("redis_url", ""), "[store] redis_url") or None
    if redis_url and not redis_url.startswith(("redis://", "rediss://", "unix://")):
        raise ConfigError(f"[store] redis_url: expected redis:// URL, got {redis_url!r}")

    targets = _targets(_table(data, "targets", "targets"), env)
    routes = _routes(data.get("routes", []), targets)
    return ProxyConfig(
        listen_host=listen_host,
        listen_port=listen_port,
        admin_host=admin_host,
        admin_port=admin_port,
        admin_token_env=_str(admin.get("token_env", "STRANGLER_ADMIN_TOKEN"), "[admin] token_env"),
        store_url=_str(store.get("url", "sqlite:///var/strangler.db"), "[store] url"),
        redis_url=redis_url,
        override_secret_env=secret_env,
        override_secret=secret.encode() if secret else None,
        limits=_dataclass(Limits, _table(proxy, "limits", "proxy.limits"), "[proxy.limits]"),
        table=RouteTable(routes=routes, targets=targets),
        access_log=_bool(proxy.get("access_log", True), "[proxy] access_log"),
        shadow_concurrency=_int(proxy.get("shadow_concurrency", 32), "[proxy] shadow_concurrency", 0),
        shadow_shed=_bool(proxy.get("shadow_shed", True), "[proxy] shadow_shed"),
        retry_buffer_bytes=_int(proxy.get("retry_buffer_bytes", 64 * 1024), "[proxy] retry_buffer_bytes", 0),
        contracts_record=_str(contracts.get("record", ""), "[contracts] record") or None,
    )


def _targets(raw: Mapping[str, Any], env: Mapping[str, str]) -> dict[str, Target]:
    if MONOLITH not in raw:
        raise ConfigError(f"[targets] missing the {MONOLITH!r} target: every table needs one")
    out: dict[str, Target] = {}
    for name, spec in raw.items():
        where = f"[targets.{name}]"
        if not _ROUTE_NAME.match(name):
            raise ConfigError(f"{where}: target names are letters, digits, '_' and '-'")
        if not isinstance(spec, Mapping):
            raise ConfigError(f"{where}: expected a table")
        _keys(spec, where, {"url", "connect_timeout", "read_timeout", "pool_size", "idle_timeout", "add_headers",
                            "credential"})
        url = _str(spec.get("url"), f"{where} url")
        parts = urlsplit(url)
        if parts.scheme != "http" or not parts.hostname or parts.path not in ("", "/"):
            raise ConfigError(f"{where} url: expected http://host:port, got {url!r}")
        try:
            port = parts.port or 80
        except ValueError as exc:
            raise ConfigError(f"{where} url: bad port in {url!r}") from exc
        add = spec.get("add_headers", {})
        if not isinstance(add, Mapping) or not all(
            isinstance(v, str) and _HEADER_NAME.match(k) and "\r" not in v and "\n" not in v for k, v in add.items()
        ):
            raise ConfigError(f"{where} add_headers: expected a table of header name = string value")
        out[name] = Target(
            name=name,
            host=parts.hostname,
            port=port,
            connect_timeout=_float(spec.get("connect_timeout", 1.0), f"{where} connect_timeout"),
            read_timeout=_float(spec.get("read_timeout", 30.0), f"{where} read_timeout"),
            pool_size=_int(spec.get("pool_size", 64), f"{where} pool_size", 0),
            idle_timeout=_float(spec.get("idle_timeout", 50.0), f"{where} idle_timeout"),
            add_headers=tuple((k, v) for k, v in add.items()),
            **_credential(spec.get("credential"), where, env),
        )
    return out


def _credential(spec: object, where: str, env: Mapping[str, str]) -> dict[str, Any]:
    """``credential = {caller = "strangler", secret_env = "INTERNAL_AUTH_SECRET"}``: the proxy signs
    every request to this target, so the service can refuse anything that did not come through it."""
    if spec is None:
        return {}
    if not isinstance(spec, Mapping):
        raise ConfigError(f"{where} credential: expected a table with caller and secret_env")
    _keys(spec, f"{where} credential", {"caller", "secret_env"})
    caller = _str(spec.get("caller", "strangler"), f"{where} credential caller")
    if not _CALLER.match(caller):
        raise ConfigError(f"{where} credential caller: lowercase letters, digits, '-' and '_', got {caller!r}")
    secret_env = _str(spec.get("secret_env", "INTERNAL_AUTH_SECRET"), f"{where} credential secret_env")
    # A missing secret is refused when the proxy starts, not here: the CLI reads this file too.
    secret = env.get(secret_env, "")
    return {"credential_caller": caller, "credential_secret_env": secret_env,
            "credential_secret": secret.encode() or None}


_ROUTE_KEYS = {"name", "prefix", "service", "mode", "weight", "cohort", "fallback", "methods", "header",
               "retry", "breaker", "shadow"}


def _routes(raw: Any, targets: Mapping[str, Target]) -> tuple[Route, ...]:
    if not isinstance(raw, list):
        raise ConfigError("[[routes]]: expected an array of tables")
    routes: list[Route] = []
    seen: set[str] = set()
    default: Route | None = None
    for i, spec in enumerate(raw):
        if not isinstance(spec, Mapping):
            raise ConfigError(f"routes[{i}]: expected a table")
        name = spec.get("name")
        if not isinstance(name, str) or not _ROUTE_NAME.match(name):
            raise ConfigError(f"routes[{i}] name: expected 1-64 letters, digits, '_' or '-', got {name!r}")
        where = f"route {name!r}"
        if name in seen:
            raise ConfigError(f"{where}: duplicate route name")
        seen.add(name)
        _keys(spec, where, _ROUTE_KEYS)
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
            isinstance(m, str) and _METHOD.match(m.upper()) for m in methods
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
        fallback=_bool(spec.get("fallback", True), f"{where} fallback"),
        retry=_dataclass(RetryPolicy, _table(spec, "retry", f"{where} retry"), f"{where} retry"),
        breaker=_dataclass(BreakerPolicy, _table(spec, "breaker", f"{where} breaker"), f"{where} breaker"),
        shadow=_shadow(_table(spec, "shadow", f"{where} shadow"), where),
    )


def _header_filter(raw: Any, where: str) -> tuple[str, str]:
    if isinstance(raw, str) and ":" in raw:
        name, _, value = raw.partition(":")
    elif isinstance(raw, Mapping) and set(raw) == {"name", "value"}:
        name, value = raw["name"], raw["value"]
    else:
        raise ConfigError(f"{where} header: expected 'name: value' or {{name, value}}")
    name, value = str(name).strip(), str(value).strip()
    if not _HEADER_NAME.match(name):
        raise ConfigError(f"{where} header: invalid header name {name!r}")
    return (name.lower(), value)


def _cohort(raw: Any, where: str) -> CohortKey:
    if raw == "client_ip":
        return CohortKey("client_ip")
    if isinstance(raw, str):
        source, _, name = raw.partition(":")
        if source in ("header", "cookie") and name and _HEADER_NAME.match(name):
            return CohortKey(source, name.lower() if source == "header" else name)
    raise ConfigError(f"{where} cohort: expected 'header:<name>', 'cookie:<name>' or 'client_ip', got {raw!r}")


def _shadow(raw: Mapping[str, Any], where: str) -> ShadowPolicy:
    policy = _dataclass(ShadowPolicy, raw, f"{where} shadow")
    if not 0.0 <= policy.noise_sample <= 1.0:
        raise ConfigError(f"{where} shadow noise_sample: expected 0.0-1.0, got {policy.noise_sample!r}")
    if policy.dry_run_header is not None and not _HEADER_NAME.match(policy.dry_run_header):
        raise ConfigError(f"{where} shadow dry_run_header: invalid header name")
    return policy


def _dataclass(cls: Any, raw: Mapping[str, Any], where: str) -> Any:
    """Build a frozen policy dataclass from a TOML table, checking key names and value types."""
    known = {f.name: f for f in fields(cls)}
    _keys(raw, where, set(known))
    kwargs: dict[str, Any] = {}
    defaults = cls()
    for key, value in raw.items():
        default = getattr(defaults, key)
        label = f"{where} {key}"
        if isinstance(default, bool):
            kwargs[key] = _bool(value, label)
        elif isinstance(default, int):
            kwargs[key] = _int(value, label, 0)
        elif isinstance(default, float):
            kwargs[key] = _float(value, label)
        elif isinstance(default, tuple):
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise ConfigError(f"{label}: expected a list of strings")
            kwargs[key] = tuple(value)
        else:  # optional string
            kwargs[key] = _str(value, label) or None
    return cls(**kwargs)


def _keys(raw: Mapping[str, Any], where: str, allowed: set[str]) -> None:
    unknown = sorted(set(raw) - allowed)
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {', '.join(unknown)}; allowed: {', '.join(sorted(allowed))}")


def _table(raw: Mapping[str, Any], key: str, where: str) -> Mapping[str, Any]:
    value = raw.get(key, {})
    if not isinstance(value, Mapping):
        raise ConfigError(f"[{where}]: expected a table")
    return value


def _hostport(value: Any, where: str) -> tuple[str, int]:
    if isinstance(value, str):
        host, sep, port = value.rpartition(":")
        if sep and host and port.isdigit() and 0 <= int(port) <= 65535:
            return host.strip("[]"), int(port)
    raise ConfigError(f"{where}: expected 'host:port', got {value!r}")


def _str(value: Any, where: str) -> str:
    if not isinstance(value, str):
        raise ConfigError(f"{where}: expected a string, got {value!r}")
    return value


def _bool(value: Any, where: str) -> bool:
    if not isinstance(value, bool):
        raise ConfigError(f"{where}: expected true or false, got {value!r}")
    return value


def _int(value: Any, where: str, minimum: int) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise ConfigError(f"{where}: expected an integer >= {minimum}, got {value!r}")
    return value


def _float(value: Any, where: str) -> float:
    if not isinstance(value, int | float) or isinstance(value, bool) or value < 0:
        raise ConfigError(f"{where}: expected a non-negative number, got {value!r}")
    return float(value)
