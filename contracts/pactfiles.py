"""Reading the committed pact files: who they are between, what they ask for, which provider states
and messages they name. The verifier checks these against its handlers before it starts."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

PACT_DIR = Path(__file__).resolve().parent / "pacts"  # the committed pact files
MESSAGE_TYPES = frozenset({"Asynchronous/Messages", "Synchronous/Messages"})


class PactFileError(ValueError):
    """A pact file that cannot be read as a pact."""


@dataclasses.dataclass(frozen=True, slots=True)
class PactFile:
    path: Path
    consumer: str
    provider: str
    descriptions: tuple[str, ...]
    states: frozenset[str]
    messages: frozenset[str]  # descriptions of message interactions

    @property
    def is_message_pact(self) -> bool:
        return bool(self.messages)


def pact_file_read(path: Path) -> PactFile:
    try:
        data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
        interactions = data.get("interactions") or data.get("messages") or []
        consumer, provider = data["consumer"]["name"], data["provider"]["name"]
        descriptions = tuple(i["description"] for i in interactions)
        states = frozenset(s["name"] for i in interactions for s in i.get("providerStates") or [])
        messages = frozenset(i["description"] for i in interactions
                             if i.get("type") in MESSAGE_TYPES or "contents" in i)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise PactFileError(f"{path}: not a readable pact file ({exc})") from exc
    return PactFile(path=path, consumer=consumer, provider=provider, descriptions=descriptions, states=states,
                    messages=messages)


def pact_files(directory: Path, *, providers: Iterable[str] | None = None,
               consumers: Iterable[str] | None = None) -> list[PactFile]:
    """The pacts in ``directory``, sorted by file name, optionally only of some providers/consumers."""
    wanted_providers = set(providers) if providers else None
    wanted_consumers = set(consumers) if consumers else None
    found = [pact_file_read(p) for p in sorted(directory.glob("*.json"))]
    return [p for p in found if (wanted_providers is None or p.provider in wanted_providers)
            and (wanted_consumers is None or p.consumer in wanted_consumers)]


def missing_handlers(pacts: Iterable[PactFile], states: Mapping[str, object],
                     messages: Mapping[str, object]) -> dict[str, list[str]]:
    """Per pact file name: provider states and messages it names that have no handler."""
    missing: dict[str, list[str]] = {}
    for pact in pacts:
        names = [f"provider state {s!r}" for s in sorted(pact.states - set(states))]
        names += [f"message {m!r}" for m in sorted(pact.messages - set(messages))]
        if names:
            missing[pact.path.name] = names
    return missing
