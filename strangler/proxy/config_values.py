"""The route table's vocabulary of checks: the error every mistake raises and the readers of
values (strings, numbers, host:port, tables, policy dataclasses) that name the key at fault."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import fields
from typing import Any

ROUTE_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
HEADER_NAME = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")
METHOD = re.compile(r"^[A-Z]{1,20}$")

class ConfigError(ValueError):
    """The route table file is invalid; the message names the route or key at fault."""


def check_keys(raw: Mapping[str, Any], where: str, allowed: set[str]) -> None:
    unknown = sorted(set(raw) - allowed)
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {', '.join(unknown)}; allowed: {', '.join(sorted(allowed))}")


def table_of(raw: Mapping[str, Any], key: str, where: str) -> Mapping[str, Any]:
    value = raw.get(key, {})
    if not isinstance(value, Mapping):
        raise ConfigError(f"[{where}]: expected a table")
    return value


def hostport(value: Any, where: str) -> tuple[str, int]:
    if isinstance(value, str):
        host, sep, port = value.rpartition(":")
        if sep and host and port.isdigit() and 0 <= int(port) <= 65535:
            return host.strip("[]"), int(port)
    raise ConfigError(f"{where}: expected 'host:port', got {value!r}")


def as_str(value: Any, where: str) -> str:
    if not isinstance(value, str):
        raise ConfigError(f"{where}: expected a string, got {value!r}")
    return value


def as_bool(value: Any, where: str) -> bool:
    if not isinstance(value, bool):
        raise ConfigError(f"{where}: expected true or false, got {value!r}")
    return value


def as_int(value: Any, where: str, minimum: int) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise ConfigError(f"{where}: expected an integer >= {minimum}, got {value!r}")
    return value


def as_float(value: Any, where: str) -> float:
    if not isinstance(value, int | float) or isinstance(value, bool) or value < 0:
        raise ConfigError(f"{where}: expected a non-negative number, got {value!r}")
    return float(value)


def policy_from(cls: Any, raw: Mapping[str, Any], where: str) -> Any:
    """Build a frozen policy dataclass from a TOML table, checking key names and value types."""
    known = {f.name: f for f in fields(cls)}
    check_keys(raw, where, set(known))
    kwargs: dict[str, Any] = {}
    defaults = cls()
    for key, value in raw.items():
        default = getattr(defaults, key)
        label = f"{where} {key}"
        if isinstance(default, bool):
            kwargs[key] = as_bool(value, label)
        elif isinstance(default, int):
            kwargs[key] = as_int(value, label, 0)
        elif isinstance(default, float):
            kwargs[key] = as_float(value, label)
        elif isinstance(default, tuple):
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise ConfigError(f"{label}: expected a list of strings")
            kwargs[key] = tuple(value)
        else:  # optional string
            kwargs[key] = as_str(value, label) or None
    return cls(**kwargs)
