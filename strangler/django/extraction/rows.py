"""Checking rows that arrive from the other store (sync snapshots, backfill batches).

They come over HTTP or the broker, so nothing is trusted: each field is checked against the model
field it lands in (plus what the model does not say, declared in the RowShape) and turned into
Python values in the shape's column order. Problems are collected (up to a bound) and raised
together as one ValidationFailed, before anything is written.
"""

from __future__ import annotations

import datetime as dt
import functools
import operator
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.apps import apps
from django.core.exceptions import ImproperlyConfigured
from django.db.models import Field

from strangler.django.errors import ValidationFailed

MAX_ERRORS = 20
_INT_RANGES = {"PositiveBigIntegerField": (0, 2**63 - 1), "BigIntegerField": (-(2**63), 2**63 - 1),
               "PositiveIntegerField": (0, 2**31 - 1), "IntegerField": (-(2**31), 2**31 - 1),
               "PositiveSmallIntegerField": (0, 32767), "SmallIntegerField": (-32768, 32767),
               # Auto primary keys: the database hands out 1 and up.
               "AutoField": (1, 2**31 - 1), "BigAutoField": (1, 2**63 - 1), "SmallAutoField": (1, 32767)}
Check = Callable[[Any], Any]


class Invalid(Exception):
    """A value that does not fit; the message says why."""


class RowErrors:
    """Collects "<list>[<index>].<field>" problems; ``raise_if_any`` turns them into a 400."""

    def __init__(self) -> None:
        self.fields: dict[str, list[str]] = {}
        self.count = 0

    def add(self, where: str, message: str) -> None:
        self.count += 1
        if len(self.fields) < MAX_ERRORS:
            self.fields.setdefault(where, []).append(message)

    def raise_if_any(self) -> None:
        if self.count:
            raise ValidationFailed(f"{self.count} invalid value(s) in the sync batch; nothing was written",
                                   code="sync_invalid", fields=self.fields)


def check_uuid(value: Any) -> uuid.UUID:
    if isinstance(value, uuid.UUID):
        return value
    if not isinstance(value, str) or len(value) not in (32, 36):
        raise Invalid("must be a UUID string")
    try:
        return uuid.UUID(value)
    except ValueError:
        raise Invalid("must be a UUID string") from None


def check_int(value: Any, *, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise Invalid("must be a JSON integer")
    if value < low or value > high:
        raise Invalid(f"must be between {low} and {high}")
    return value


def check_bool(value: Any) -> bool:
    if not isinstance(value, bool):
        raise Invalid("must be a JSON boolean")
    return value


def check_str(value: Any, *, max_length: int, min_length: int = 0) -> str:
    if not isinstance(value, str):
        raise Invalid("must be a JSON string")
    if not min_length <= len(value) <= max_length:
        raise Invalid(f"must be {min_length}-{max_length} characters")
    return value


def check_datetime(value: Any) -> dt.datetime:
    if isinstance(value, dt.datetime):
        parsed = value
    elif isinstance(value, str) and len(value) <= 40:
        try:
            parsed = dt.datetime.fromisoformat(value)
        except ValueError:
            raise Invalid("must be an ISO 8601 date-time") from None
    else:
        raise Invalid("must be an ISO 8601 date-time")
    if parsed.tzinfo is None:
        raise Invalid("must carry a UTC offset")
    return parsed


_new, _set, _UNKNOWN = object.__new__, object.__setattr__, uuid.SafeUUID.unknown


def fast_uuid(value: Any) -> uuid.UUID:
    """For a RowShape's fast path: the canonical form only (raises; the slow path names the problem).
    What ``uuid.UUID(value)`` does for a hyphenated string, without its generic parsing (a third of
    a backfill's row checks went there)."""
    if type(value) is not str or len(value) != 36:
        raise Invalid
    if value[8] == value[13] == value[18] == value[23] == "-":
        digits = value.replace("-", "")
        if len(digits) == 32:
            made = _new(uuid.UUID)
            _set(made, "int", int(digits, 16))
            _set(made, "is_safe", _UNKNOWN)
            return made
    return uuid.UUID(value)


def fast_datetime(value: Any) -> dt.datetime:
    """For a RowShape's fast path: an ISO 8601 string with an offset only."""
    if type(value) is not str or len(value) > 40:
        raise Invalid
    parsed = dt.datetime.fromisoformat(value)
    if parsed.tzinfo is None:
        raise Invalid
    return parsed


def check_choice(values: Sequence[Any]) -> Check:
    allowed = frozenset(values)

    def check(value: Any) -> Any:
        if value not in allowed:
            raise Invalid(f"must be one of {sorted(allowed)}")
        return value

    return check


def field_check(model_field: Field) -> Check:
    """The check a model field implies: type, range, length, choices."""
    kind = model_field.get_internal_type()
    if kind in ("ForeignKey", "OneToOneField"):  # the column holds the target's key
        return field_check(model_field.target_field)
    if kind == "UUIDField":
        return check_uuid
    if model_field.choices:
        return check_choice([value for value, _ in model_field.flatchoices])
    if kind in _INT_RANGES:
        low, high = _INT_RANGES[kind]
        return functools.partial(check_int, low=low, high=high)
    if kind in ("CharField", "TextField"):
        return functools.partial(check_str, min_length=0 if model_field.blank else 1,
                                 max_length=model_field.max_length or 1_000_000)
    if kind == "DateTimeField":
        return check_datetime
    if kind == "BooleanField":
        return check_bool
    if kind == "JSONField":
        return lambda value: value
    raise ImproperlyConfigured(f"no sync check for {model_field!r} ({kind}); declare one in RowShape.overrides")


@dataclass(frozen=True)
class RowShape:
    """How rows of one kind are checked: the model's field checks for ``fields``, ``overrides`` for
    what the model does not say (a currency's format, a revision's floor), ``defaults`` for optional
    fields (computed from the checked row), the key that must be unique in a batch, a whole-row
    ``row_check`` ((field, message) or None) and an optional ``fast`` path for well-formed rows
    (a checked dict, or None to fall back to the field-by-field checks, which name the problem)."""

    model: str
    fields: Sequence[str]
    key: Sequence[str] = ("id",)
    overrides: Mapping[str, Check] = field(default_factory=dict)
    defaults: Mapping[str, Callable[[dict], Any]] = field(default_factory=dict)
    row_check: Callable[[dict], tuple[str, str] | None] | None = None
    fast: Callable[[Any], dict | None] | None = None

    @functools.cached_property
    def pick(self) -> Callable[[dict], tuple]:
        """A checked row's values as a tuple in ``fields`` order."""
        return _getter(self.fields)

    @functools.cached_property
    def pick_key(self) -> Callable[[dict], tuple]:
        return _getter(self.key)

    @functools.cached_property
    def checks(self) -> tuple[tuple[str, Check], ...]:
        meta = apps.get_model(self.model)._meta
        return tuple((name, self.overrides.get(name) or field_check(meta.get_field(name)))
                     for name in self.fields if name not in self.defaults)


def _getter(names: Sequence[str]) -> Callable[[dict], tuple]:
    if len(names) == 1:
        name = names[0]
        return lambda row: (row[name],)
    return operator.itemgetter(*names)


def _row(row: Any, where: str, shape: RowShape, errors: RowErrors) -> dict[str, Any] | None:
    if not isinstance(row, dict):
        errors.add(where, "must be a JSON object")
        return None
    clean: dict[str, Any] = {}
    failed = False
    for name, check in shape.checks:
        if name not in row:
            errors.add(f"{where}.{name}", "is required")
            failed = True
            continue
        try:
            clean[name] = check(row[name])
        except Invalid as exc:
            errors.add(f"{where}.{name}", str(exc))
            failed = True
    for name, default in shape.defaults.items():
        if failed:
            break
        try:
            clean[name] = shape.overrides.get(name, lambda v: v)(row[name]) if name in row else default(clean)
        except Invalid as exc:
            errors.add(f"{where}.{name}", str(exc))
            failed = True
    return None if failed else clean


def rows_clean(rows: Any, errors: RowErrors, *, name: str, shape: RowShape) -> list[tuple]:
    """Valid rows as tuples in ``shape.fields`` order; problems go to ``errors``."""
    if not isinstance(rows, list):
        errors.add(name, "must be a JSON array")
        return []
    out: list[tuple] = []
    seen: set[tuple] = set()
    fast, row_check, pick, pick_key = shape.fast, shape.row_check, shape.pick, shape.pick_key
    for i, row in enumerate(rows):
        clean = (fast(row) if fast else None) or _row(row, f"{name}[{i}]", shape, errors)
        if clean is None:
            continue
        problem = row_check(clean) if row_check else None
        key = pick_key(clean)
        if problem is not None:
            errors.add(f"{name}[{i}].{problem[0]}", problem[1])
        elif key in seen:
            errors.add(f"{name}[{i}].{shape.key[-1]}", "appears twice in the batch")
        else:
            seen.add(key)
            out.append(pick(clean))
    return out
