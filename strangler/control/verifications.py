"""The contract verification record: a JSON Lines file, one verification per line, appended by the
contract runs (``contracts/record.py``) and read by the flip gate at every gated flip, so a record
written after the proxy started counts at once. Each line:

    {"at": "2026-11-21T10:00:00+00:00", "service": "payments", "consumer": "storefront",
     "consumer_version": "3f2a…", "provider": "payments", "provider_version": "9c1e…",
     "against": "service", "result": "passed", "summary": "12 interactions"}

``consumer_version`` is the hash of the pact file, ``provider_version`` the version of the code
verified (both: strangler/control/source_version.py); ``against`` says which implementation was
verified ("monolith" or "service"). The same file holds the deployments recorded offline
(contracts/record_deployment.py), which are not verifications:

    {"kind": "deployment", "at": "...", "environment": "production", "pacticipant": "storefront",
     "provider": "payments", "version": "3f2a…"}

(``provider`` names the pact a consumer's version is of; empty for a provider's own deployment.)
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

PASSED = "passed"
FAILED = "failed"
DEPLOYMENT = "deployment"  # the "kind" of a deployment line
_FIELDS = ("at", "service", "consumer", "consumer_version", "provider", "provider_version", "against", "result")
_DEPLOYMENT_FIELDS = ("at", "environment", "pacticipant", "version")
ENVIRONMENT_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


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
class Deployment:
    """A pacticipant's version deployed to an environment (the latest line per pacticipant wins)."""

    at: str
    environment: str
    pacticipant: str
    version: str
    provider: str = ""  # for a consumer: the provider of the pact whose version this is

    def as_dict(self) -> dict[str, Any]:
        return {"kind": DEPLOYMENT, **asdict(self)}


def environment_check(name: str) -> str:
    if not isinstance(name, str) or not ENVIRONMENT_NAME.match(name):
        raise ContractRecordError(f"environment must be 1-64 letters, digits, '.', '_' or '-', got {name!r}")
    return name


def _object(line: str, where: str) -> dict[str, Any]:
    """One record line as a JSON object, or the record error saying what it is instead."""
    try:
        data = json.loads(line)
    except json.JSONDecodeError as exc:
        raise ContractRecordError(f"{where}: not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise ContractRecordError(f"{where}: expected an object")
    return data


def line_parse(line: str, where: str = "record") -> Verification | Deployment:
    data = _object(line, where)
    if data.get("kind") == DEPLOYMENT:
        missing = [f for f in _DEPLOYMENT_FIELDS if not isinstance(data.get(f), str) or not data.get(f)]
        if missing:
            raise ContractRecordError(f"{where}: deployment: missing or empty {', '.join(missing)}")
        return Deployment(**{f: data[f] for f in _DEPLOYMENT_FIELDS}, provider=str(data.get("provider", "")))
    return verification_parse(line, where, data)


def verification_parse(line: str, where: str = "record", data: dict[str, Any] | None = None) -> Verification:
    if data is None:
        data = _object(line, where)
    missing = [f for f in _FIELDS if not isinstance(data.get(f), str) or not data.get(f)]
    if missing:
        raise ContractRecordError(f"{where}: missing or empty {', '.join(missing)}")
    if data["result"] not in (PASSED, FAILED):
        raise ContractRecordError(f"{where}: result must be {PASSED!r} or {FAILED!r}, got {data['result']!r}")
    return Verification(**{f: data[f] for f in _FIELDS}, summary=str(data.get("summary", "")))


def record_read(path: str | Path) -> list[Verification | Deployment]:
    """Every line of the file, oldest first; an absent file is an empty record."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return []
    except OSError as exc:
        raise ContractRecordError(f"cannot read {path}: {exc}") from exc
    return [line_parse(line, f"{path}:{n}") for n, line in enumerate(text.splitlines(), 1) if line.strip()]


def verifications_read(path: str | Path) -> list[Verification]:
    """Every verification in the file, oldest first (deployment lines are read, checked and left out)."""
    return [line for line in record_read(path) if isinstance(line, Verification)]


def deployments_read(path: str | Path) -> list[Deployment]:
    return [line for line in record_read(path) if isinstance(line, Deployment)]


def verification_append(path: str | Path, verification: Verification | Deployment) -> None:
    """One line per verification or deployment; appends are atomic enough for one writer per run."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as f:
        f.write(json.dumps(verification.as_dict(), sort_keys=True) + "\n")
