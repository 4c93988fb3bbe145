"""May a service take traffic? The one decision behind the strangler's flip gate and
`make can-i-deploy`: every pact of the service (its pact files as they are now, each at its
consumer version), at the providers' current version, verified and passed against every
implementation (the monolith's and the service's). Pure: the callers read the record, the pact
files and the versions, and pass them in.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from strangler.control.verifications import PASSED, Verification
from strangler.proxy.types import Side

# A strangled route is served by both: a pact must hold for the monolith (traffic can go back) and
# for the service (traffic goes there).
IMPLEMENTATIONS: tuple[str, ...] = (Side.MONOLITH.value, Side.SERVICE.value)


@dataclass(frozen=True, slots=True)
class Pact:
    """One pact file: who it is between and its version (the hash of its content)."""

    consumer: str
    provider: str
    version: str


@dataclass(frozen=True, slots=True)
class Requirement:
    """One pact that must be verified against one implementation at the current versions."""

    consumer: str
    provider: str
    against: str
    consumer_version: str
    provider_version: str
    found: Verification | None  # the latest verification of this pact and implementation, if any

    @property
    def met(self) -> bool:
        f = self.found
        return (f is not None and f.result == PASSED and f.consumer_version == self.consumer_version
                and f.provider_version == self.provider_version)

    @property
    def verdict(self) -> str:
        f = self.found
        if f is None:
            return "never verified"
        if f.result != PASSED:
            return f"FAILED at {f.at}"
        if f.consumer_version != self.consumer_version:
            return f"verified an older pact ({f.consumer_version})"
        if f.provider_version != self.provider_version:
            return f"verified older code ({f.provider_version})"
        return f"ok ({f.at})"

    def describe(self) -> str:
        return f"{self.consumer} -> {self.provider} against the {self.against}: {self.verdict}"


@dataclass(frozen=True, slots=True)
class Decision:
    service: str
    providers: tuple[str, ...]
    requirements: tuple[Requirement, ...]

    @property
    def ok(self) -> bool:
        # No pact at all is not "nothing to break": it is nothing verified.
        return bool(self.requirements) and all(r.met for r in self.requirements)

    @property
    def missing(self) -> tuple[Requirement, ...]:
        return tuple(r for r in self.requirements if not r.met)

    @property
    def state(self) -> str:
        """"passed", "missing" (nothing of it verified) or "failed" (failing, stale or partial)."""
        if self.ok:
            return PASSED
        return "missing" if all(r.found is None for r in self.requirements) else "failed"

    def describe(self) -> str:
        if not self.requirements:
            return (f"no pact names a provider of service {self.service!r} "
                    f"({', '.join(self.providers) or 'none configured'}): nothing verified")
        if self.ok:
            return (f"contracts of {self.service!r} verified: all {len(self.requirements)} pact/implementation "
                    f"pairs at provider version {self.requirements[0].provider_version}")
        head = ("no contract verification recorded for service" if self.state == "missing"
                else "contract verification failing for service")
        return (f"{head} {self.service!r} ({len(self.missing)} of {len(self.requirements)} pact/implementation "
                f"pairs not verified at this version): {'; '.join(r.describe() for r in self.missing)}")


def deploy_decision(verifications: Iterable[Verification], *, service: str, providers: Sequence[str],
                    pacts: Iterable[Pact], provider_versions: Mapping[str, str],
                    implementations: Sequence[str] = IMPLEMENTATIONS) -> Decision:
    """Every pact whose provider is one of ``providers``, against every implementation, checked
    against the latest verification of that (consumer, provider, implementation) for ``service``."""
    if not implementations:
        raise ValueError("at least one implementation must be verified")
    latest: dict[tuple[str, str, str], Verification] = {}
    for v in verifications:
        if v.service == service:
            latest[v.key] = v  # later lines win
    needed = []
    for pact in sorted(pacts, key=lambda p: (p.consumer, p.provider)):
        if pact.provider not in providers:
            continue
        try:
            version = provider_versions[pact.provider]
        except KeyError:
            raise ValueError(f"no current version given for provider {pact.provider!r}") from None
        for against in implementations:
            needed.append(Requirement(pact.consumer, pact.provider, against, pact.version, version,
                                      latest.get((pact.consumer, pact.provider, against))))
    return Decision(service=service, providers=tuple(providers), requirements=tuple(needed))
