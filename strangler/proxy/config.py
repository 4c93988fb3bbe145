"""Load and validate the route table file (TOML).

Every mistake is reported at load time with the route or key that caused it, so a bad file never
reaches a running proxy.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from strangler.proxy.config_routes import routes_parse
from strangler.proxy.config_values import (
    HEADER_NAME,
    ROUTE_NAME,
    ConfigError,
    as_bool,
    as_float,
    as_int,
    as_str,
    check_keys,
    hostport,
    policy_from,
    table_of,
)
from strangler.proxy.credentials import Keyring, parse_keys, valid_name
from strangler.proxy.types import (
    MONOLITH,
    Limits,
    Route,
    RouteTable,
    Target,
)

SHADOW_BUDGET_BYTES = 64 * 1024 * 1024  # default [proxy] shadow_budget_bytes
# [contracts]: the ways to give the providers' version, exactly one of them.
VERSION_KEYS = ("source", "provider_version", "provider_version_env")
ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


@dataclass(frozen=True, slots=True)
class ContractsConfig:
    """``[contracts]``: what the flip gate (strangler.control.flip_gate) needs to ask can-i-deploy's
    question itself. Paths are relative to the directory the proxy or CLI runs in.

    The providers' version comes from exactly one of ``source`` (a git work tree, as `make run` has),
    ``provider_version`` (a literal) and ``provider_version_env`` (the name of an environment variable
    holding it, as a container without a work tree has: the commit its images were built from). The
    variable is read at each gated flip, not here: unset or empty, the gate refuses."""

    record: str  # the verification record (JSON Lines) the contract runs append to
    pacts: str  # the directory of the pact files: each one's content is a consumer version that must be verified
    source: str | None  # a git work tree: the providers' version is its commit (+dirty), computed at each flip
    provider_version: str | None  # or the version being deployed, as a literal (e.g. the image's commit)
    providers: Mapping[str, tuple[str, ...]]  # service -> the pact providers it must honour
    provider_version_env: str | None = None  # or the variable holding the deployed version, read at each flip


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
    shadow_budget_bytes: int = SHADOW_BUDGET_BYTES  # request and response copies held for mirrors, all together
    retry_buffer_bytes: int = 64 * 1024  # request bodies up to this size are kept for a retry
    contracts_record: str | None = None  # verification record gating canary/service flips (strangler.control.flip_gate)
    contracts: ContractsConfig | None = None  # the whole [contracts] table the gate asks
    # The credential the admin side signs its polls of each target's kit status with (strangler.dashboard.backends).
    # Minted per target for its audience (credential_audience, else the target's name): a root secret
    # and/or pairwise keys, like a target's credential.
    status_caller: str | None = None
    status_secret: bytes | None = field(default=None, repr=False)
    status_keys: Mapping[str, str] = field(default_factory=dict, repr=False)
    # [rollouts]: how often each replica publishes its counters and its controller looks at the rollouts,
    # and how long the leader's lease lasts unrenewed (a stopped leader's successor waits at most that).
    rollout_tick: float = 1.0
    rollout_lease: float = 5.0
    # [rollouts.reconcile] route = [argv]: the command a rollout with `reconcile` runs before each step
    # advances (exit 0: both stores agree). Only the route table names commands: an API caller cannot.
    rollout_reconcile: Mapping[str, tuple[str, ...]] = field(default_factory=dict)


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
    check_keys(data, "top level", {"proxy", "admin", "store", "targets", "routes", "contracts", "rollouts"})
    proxy = table_of(data, "proxy", "proxy")
    check_keys(proxy, "[proxy]", {"listen", "override_secret_env", "limits", "access_log", "shadow_concurrency",
                             "shadow_shed", "shadow_budget_bytes", "retry_buffer_bytes"})
    admin = table_of(data, "admin", "admin")
    check_keys(admin, "[admin]", {"listen", "token_env", "status_credential"})
    status = _status_credential(admin.get("status_credential"), env)
    store = table_of(data, "store", "store")
    check_keys(store, "[store]", {"url", "redis_url"})
    contracts_raw = table_of(data, "contracts", "contracts")
    rollouts = table_of(data, "rollouts", "rollouts")
    check_keys(rollouts, "[rollouts]", {"tick", "lease", "reconcile"})
    tick = as_float(rollouts.get("tick", 1.0), "[rollouts] tick")
    lease = as_float(rollouts.get("lease", 5.0), "[rollouts] lease")
    if not 0 < tick < lease:
        raise ConfigError("[rollouts]: tick and lease are seconds, with 0 < tick < lease")

    listen_host, listen_port = hostport(proxy.get("listen", "127.0.0.1:8000"), "[proxy] listen")
    admin_host, admin_port = hostport(admin.get("listen", "127.0.0.1:8100"), "[admin] listen")
    secret_env = as_str(proxy.get("override_secret_env", "STRANGLER_OVERRIDE_SECRET"), "[proxy] override_secret_env")
    secret = env.get(secret_env, "") if secret_env else ""
    redis_url = as_str(store.get("redis_url", ""), "[store] redis_url") or None
    if redis_url and not redis_url.startswith(("redis://", "rediss://", "unix://")):
        raise ConfigError(f"[store] redis_url: expected redis:// URL, got {redis_url!r}")

    targets = _targets(table_of(data, "targets", "targets"), env)
    routes = routes_parse(data.get("routes", []), targets)
    contracts = _contracts(contracts_raw, routes)
    reconcile = _reconcile_commands(table_of(rollouts, "reconcile", "rollouts.reconcile"), routes)
    return ProxyConfig(
        listen_host=listen_host,
        listen_port=listen_port,
        admin_host=admin_host,
        admin_port=admin_port,
        admin_token_env=as_str(admin.get("token_env", "STRANGLER_ADMIN_TOKEN"), "[admin] token_env"),
        store_url=as_str(store.get("url", "sqlite:///var/strangler.db"), "[store] url"),
        redis_url=redis_url,
        override_secret_env=secret_env,
        override_secret=secret.encode() if secret else None,
        limits=policy_from(Limits, table_of(proxy, "limits", "proxy.limits"), "[proxy.limits]"),
        table=RouteTable(routes=routes, targets=targets),
        access_log=as_bool(proxy.get("access_log", True), "[proxy] access_log"),
        shadow_concurrency=as_int(proxy.get("shadow_concurrency", 32), "[proxy] shadow_concurrency", 0),
        shadow_shed=as_bool(proxy.get("shadow_shed", True), "[proxy] shadow_shed"),
        shadow_budget_bytes=as_int(proxy.get("shadow_budget_bytes", SHADOW_BUDGET_BYTES),
                                 "[proxy] shadow_budget_bytes", 0),
        retry_buffer_bytes=as_int(proxy.get("retry_buffer_bytes", 64 * 1024), "[proxy] retry_buffer_bytes", 0),
        contracts_record=contracts.record if contracts else None,
        contracts=contracts,
        status_caller=status.get("caller"),
        status_secret=status.get("secret"),
        status_keys=status.get("keys", {}),
        rollout_tick=tick,
        rollout_lease=lease,
        rollout_reconcile=reconcile,
    )


def _reconcile_commands(raw: Mapping[str, Any], routes: tuple[Route, ...]) -> dict[str, tuple[str, ...]]:
    known = {r.name for r in routes if r.service}
    out = {}
    for route, argv in raw.items():
        if route not in known:
            raise ConfigError(f"[rollouts.reconcile] {route}: no route with a service of that name")
        if not isinstance(argv, list) or not argv or not all(isinstance(a, str) and a for a in argv):
            raise ConfigError(f"[rollouts.reconcile] {route}: expected a command as a list of arguments")
        out[route] = tuple(argv)
    return out


def _targets(raw: Mapping[str, Any], env: Mapping[str, str]) -> dict[str, Target]:
    if MONOLITH not in raw:
        raise ConfigError(f"[targets] missing the {MONOLITH!r} target: every table needs one")
    out: dict[str, Target] = {}
    for name, spec in raw.items():
        where = f"[targets.{name}]"
        if not ROUTE_NAME.match(name):
            raise ConfigError(f"{where}: target names are letters, digits, '_' and '-'")
        if not isinstance(spec, Mapping):
            raise ConfigError(f"{where}: expected a table")
        check_keys(spec, where, {"url", "connect_timeout", "read_timeout", "pool_size", "idle_timeout", "add_headers",
                            "credential"})
        url = as_str(spec.get("url"), f"{where} url")
        parts = urlsplit(url)
        if parts.scheme != "http" or not parts.hostname or parts.path not in ("", "/"):
            raise ConfigError(f"{where} url: expected http://host:port, got {url!r}")
        try:
            port = parts.port or 80
        except ValueError as exc:
            raise ConfigError(f"{where} url: bad port in {url!r}") from exc
        add = spec.get("add_headers", {})
        if not isinstance(add, Mapping) or not all(
            isinstance(v, str) and HEADER_NAME.match(k) and "\r" not in v and "\n" not in v for k, v in add.items()
        ):
            raise ConfigError(f"{where} add_headers: expected a table of header name = string value")
        out[name] = Target(
            name=name,
            host=parts.hostname,
            port=port,
            connect_timeout=as_float(spec.get("connect_timeout", 1.0), f"{where} connect_timeout"),
            read_timeout=as_float(spec.get("read_timeout", 30.0), f"{where} read_timeout"),
            pool_size=as_int(spec.get("pool_size", 64), f"{where} pool_size", 0),
            idle_timeout=as_float(spec.get("idle_timeout", 50.0), f"{where} idle_timeout"),
            add_headers=tuple((k, v) for k, v in add.items()),
            **_credential(spec.get("credential"), where, env),
        )
    return out


def _credential(spec: object, where: str, env: Mapping[str, str]) -> dict[str, Any]:
    """``credential = {caller = "strangler", audience = "payments-service"}``: the proxy signs every
    request to this target, so the service can refuse anything that did not come through it. The
    audience (the service's name; the target's name by default) is bound into the credential. The
    pair's key comes from ``keys_env`` (JSON {"caller>audience": key}, default INTERNAL_AUTH_KEYS),
    else is derived from the root secret in ``secret_env`` (default INTERNAL_AUTH_SECRET)."""
    if spec is None:
        return {}
    target = where.removeprefix("[targets.").removesuffix("]")
    if not isinstance(spec, Mapping):
        raise ConfigError(f"{where} credential: expected a table with caller, audience, secret_env, keys_env")
    check_keys(spec, f"{where} credential", {"caller", "audience", "secret_env", "keys_env"})
    names = {}
    for key, default in (("caller", "strangler"), ("audience", target.lower())):
        name = as_str(spec.get(key, default), f"{where} credential {key}")
        if not valid_name(name):
            raise ConfigError(f"{where} credential {key}: lowercase letters, digits, '-' and '_', got {name!r}")
        names[key] = name
    secret_env = as_str(spec.get("secret_env", "INTERNAL_AUTH_SECRET"), f"{where} credential secret_env")
    keys_env = as_str(spec.get("keys_env", "INTERNAL_AUTH_KEYS"), f"{where} credential keys_env")
    # A missing key is refused when the proxy starts, not here: the CLI reads this file too.
    try:
        pairs = parse_keys(env.get(keys_env, "")) if keys_env else {}
    except ValueError as exc:
        raise ConfigError(f"{where} credential: {keys_env}: {exc}") from None
    secret = env.get(secret_env, "") if secret_env else ""
    key = Keyring(secret or None, pairs).key(names["caller"], names["audience"]) if secret or pairs else None
    return {"credential_caller": names["caller"], "credential_audience": names["audience"],
            "credential_secret_env": secret_env, "credential_keys_env": keys_env, "credential_key": key}


def _status_credential(spec: object, env: Mapping[str, str]) -> dict[str, Any]:
    """``[admin] status_credential = {caller, secret_env, keys_env}``: no audience, since each poll is
    minted for the target it asks (strangler.dashboard.backends)."""
    if spec is None:
        return {}
    where = "[admin] status credential"
    if not isinstance(spec, Mapping):
        raise ConfigError(f"{where}: expected a table with caller, secret_env, keys_env")
    check_keys(spec, where, {"caller", "secret_env", "keys_env"})
    caller = as_str(spec.get("caller", "strangler"), f"{where} caller")
    if not valid_name(caller):
        raise ConfigError(f"{where} caller: lowercase letters, digits, '-' and '_', got {caller!r}")
    secret_env = as_str(spec.get("secret_env", "INTERNAL_AUTH_SECRET"), f"{where} secret_env")
    keys_env = as_str(spec.get("keys_env", "INTERNAL_AUTH_KEYS"), f"{where} keys_env")
    try:
        keys = parse_keys(env.get(keys_env, "")) if keys_env else {}
    except ValueError as exc:
        raise ConfigError(f"{where}: {keys_env}: {exc}") from None
    secret = env.get(secret_env, "") if secret_env else ""
    return {"caller": caller, "secret": secret.encode() or None, "keys": keys}


def _contracts(raw: Mapping[str, Any], routes: tuple[Route, ...]) -> ContractsConfig | None:
    """The gate asks what can-i-deploy asks, so it needs the same inputs: a record alone cannot say
    which pacts and which code must have been verified."""
    if not raw:
        return None
    check_keys(raw, "[contracts]", {"record", "pacts", *VERSION_KEYS, "providers"})
    needed = [k for k in ("record", "pacts", "providers") if k not in raw]
    if needed:
        raise ConfigError(f"[contracts]: missing {', '.join(needed)}: the gate needs the record, the directory of "
                          "the pact files, each service's providers ([contracts.providers] name = [...]) and the "
                          "providers' version (source = a git work tree, provider_version, or provider_version_env)")
    record = as_str(raw["record"], "[contracts] record").strip()
    pacts = as_str(raw["pacts"], "[contracts] pacts").strip()
    if not record or not pacts:
        raise ConfigError("[contracts]: record and pacts must not be empty")
    source = as_str(raw.get("source", ""), "[contracts] source").strip() or None
    version = as_str(raw.get("provider_version", ""), "[contracts] provider_version").strip() or None
    version_env = _version_env(raw)
    if sum(v is not None for v in (source, version, version_env)) != 1:
        raise ConfigError("[contracts]: give exactly one of source (a git work tree whose commit is the providers' "
                          "version), provider_version (the version being deployed) and provider_version_env (the "
                          "environment variable holding it, e.g. the commit the images were built from)")
    table = table_of(raw, "providers", "contracts.providers")
    providers: dict[str, tuple[str, ...]] = {}
    for service, names in table.items():
        if (not isinstance(names, list) or not names
                or not all(isinstance(n, str) and n.strip() for n in names)):
            raise ConfigError(f"[contracts.providers] {service}: expected a non-empty list of provider names")
        providers[service] = tuple(n.strip() for n in names)
    for route in routes:
        if route.service is not None and route.service not in providers:
            raise ConfigError(f"[contracts.providers]: no entry for service {route.service!r} (route {route.name!r}): "
                              "its flips could not be gated")
    return ContractsConfig(record=record, pacts=pacts, source=source, provider_version=version, providers=providers,
                           provider_version_env=version_env)


def _version_env(raw: Mapping[str, Any]) -> str | None:
    """``provider_version_env``'s variable name; only its value waits for a flip (flip_gate reads it)."""
    if "provider_version_env" not in raw:
        return None
    name = as_str(raw["provider_version_env"], "[contracts] provider_version_env").strip()
    if not ENV_NAME.match(name):
        raise ConfigError(f"[contracts] provider_version_env: expected the name of an environment variable "
                          f"(letters, digits and '_', not starting with a digit), got {name!r}")
    return name
