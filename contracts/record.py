"""Writing the verification record the strangler's flips are gated on (format: strangler/control/verifications.py)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from contracts.participants import SERVICES
from strangler.control.verifications import FAILED, PASSED, Verification, verification_append

DEFAULT_RECORD = Path(__file__).resolve().parent / "verifications.jsonl"


def service_of(provider: str) -> str:
    """The strangler service a provider belongs to (participants.SERVICES)."""
    for service, providers in SERVICES.items():
        if provider in providers:
            return service
    raise KeyError(f"provider {provider!r} belongs to no service in contracts.participants.SERVICES")


def verification_record(path: Path, *, consumer: str, consumer_version: str, provider: str,
                        provider_version: str, against: str, passed: bool, summary: str) -> Verification:
    """Append one verification (now, UTC) and return it."""
    verification = Verification(
        at=dt.datetime.now(tz=dt.UTC).isoformat(timespec="seconds"), service=service_of(provider),
        consumer=consumer, consumer_version=consumer_version, provider=provider,
        provider_version=provider_version, against=against, result=PASSED if passed else FAILED,
        summary=summary,
    )
    verification_append(path, verification)
    return verification
