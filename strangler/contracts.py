"""Contract-gated flips: a route moves traffic to a service only while that service's latest
contract verifications all passed.

The verification record is a JSON Lines file, one verification per line, appended by the contract
runs (``contracts/record.py``) and read here at every gated flip, so a record written after the
proxy started counts at once. Each line:

    {"at": "2026-11-21T10:00:00+00:00", "service": "payments", "consumer": "storefront",
     "consumer_version": "3f2a…", "provider": "payments", "provider_version": "9c1e…",
     "against": "service", "result": "passed", "summary": "12 interactions"}

``against`` says which implementation was verified ("monolith" or "service"). The latest line of
each (consumer, provider, against) is what counts; a service with no line at all is "missing".
Only flips that send a client's request to the service (canary, service) are gated: going back to
the monolith or to shadow is always allowed, because rolling back must never wait for CI.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from strangler.store import FlipRefused, Guard
from strangler.types import Mode, Route, RouteState

PASSED = "passed"
FAILED = "failed"
MISSING = "missing"
GATED_MODES = frozenset({Mode.CANARY, Mode.SERVICE})
_FIELDS = ("at", "service", "consumer", "consumer_version", "provider", "provider_version", "against", "result")


class ContractRecordError(ValueError):
    """The record file cannot be read; the gate refuses rather than guess."""


@dataclass(frozen=True, slots=True)
class Verification:
    at: str  # ISO 8601, UTC
    service: str
    consumer: str
    consumer_version: str
    provider: str
    provider_version: str
    against: str  # "monolith" | "service"
    result: str  # "passed" | "failed"
    summary: str = ""

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.consumer, self.provider, self.against)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class ContractStatus:
    service: str
    state: str  # "passed" | "failed" | "missing"
    latest: tuple[Verification, ...]  # the latest verification of each (consumer, provider, against)

    @property
    def failing(self) -> tuple[Verification, ...]:
        return tuple(v for v in self.latest if v.result != PASSED)

    def describe(self) -> str:
        if self.state == MISSING:
            return f"no contract verification recorded for service {self.service!r}"
        if self.state == PASSED:
            return f"contracts of {self.service!r} verified ({len(self.latest)} pacts)"
        names = ", ".join(f"{v.consumer} -> {v.provider} against the {v.against} ({v.at})" for v in self.failing)
        return f"contract verification failing for service {self.service!r}: {names}"

    def as_dict(self) -> dict[str, Any]:
        return {"service": self.service, "state": self.state, "message": self.describe(),
                "latest": [v.as_dict() for v in self.latest]}


def verification_parse(line: str, where: str = "record") -> Verification:
    try:
        data = json.loads(line)
    except json.JSONDecodeError as exc:
        raise ContractRecordError(f"{where}: not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise ContractRecordError(f"{where}: expected an object")
    missing = [f for f in _FIELDS if not isinstance(data.get(f), str) or not data.get(f)]
    if missing:
        raise ContractRecordError(f"{where}: missing or empty {', '.join(missing)}")
    if data["result"] not in (PASSED, FAILED):
        raise ContractRecordError(f"{where}: result must be {PASSED!r} or {FAILED!r}, got {data['result']!r}")
    return Verification(**{f: data[f] for f in _FIELDS}, summary=str(data.get("summary", "")))


def verifications_read(path: str | Path) -> list[Verification]:
    """Every verification in the file, oldest first; an absent file is an empty record."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return []
    except OSError as exc:
        raise ContractRecordError(f"cannot read {path}: {exc}") from exc
    return [verification_parse(line, f"{path}:{n}") for n, line in enumerate(text.splitlines(), 1) if line.strip()]


def verification_append(path: str | Path, verification: Verification) -> None:
    """One line per verification; appends are atomic enough for one writer per run."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as f:
        f.write(json.dumps(verification.as_dict(), sort_keys=True) + "\n")


def contract_status(verifications: Iterable[Verification], service: str) -> ContractStatus:
    latest: dict[tuple[str, str, str], Verification] = {}
    for v in verifications:
        if v.service == service:
            latest[v.key] = v  # later lines win
    rows = tuple(sorted(latest.values(), key=lambda v: v.key))
    if not rows:
        state = MISSING
    elif all(v.result == PASSED for v in rows):
        state = PASSED
    else:
        state = FAILED
    return ContractStatus(service=service, state=state, latest=rows)


def contract_guard(record: str | Path) -> Guard:
    """A store guard refusing canary/service flips of a service whose contracts do not pass."""

    def guard(route: Route, current: RouteState, new: RouteState) -> None:
        if route.service is None or new.mode not in GATED_MODES:
            return
        try:
            status = contract_status(verifications_read(record), route.service)
        except ContractRecordError as exc:
            raise FlipRefused(f"route {route.name!r}: contract record unreadable: {exc}") from None
        if status.state != PASSED:
            raise FlipRefused(f"route {route.name!r} cannot go to {new.mode.value}: {status.describe()}; "
                              f"run `make contracts`, or pass --force with a --reason")

    return guard


def config_guard(record: str | None) -> Guard | None:
    """The guard a route table's ``[contracts] record`` asks for; None when the table has none."""
    return contract_guard(record) if record else None
