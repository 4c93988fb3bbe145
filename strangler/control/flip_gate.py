"""Contract-gated flips: a route moves traffic to a service only when can-i-deploy would say yes,
asked here by the strangler itself from the route table's ``[contracts]`` (strangler.proxy.config):
every pact of the service in the ``pacts`` directory, at its current content, verified and passed
against the monolith and the service at the providers' current version, according to the
``record`` (strangler/control/verifications.py). The decision is strangler/control/deploy_decision.py,
the one `make can-i-deploy` uses too, so an old pass, a pass against the service only or a pass over
a subset of the pacts refuses the flip, and the refusal names each pact and implementation missing.

The providers' current version is ``source``'s commit (a git work tree, as `make run` has),
``provider_version`` (a literal), or the value of the environment variable ``provider_version_env``
names (a deployed stack, whose containers hold no work tree: the commit their images were built
from). That variable is read at each gated flip; unset or empty, the gate cannot tell which code is
deployed and refuses, naming the variable. A full commit id counts as the short one the contract
runs record (strangler/control/source_version.py).

Only flips that send a client's request to the service (canary, service) are gated: going back to
the monolith or to shadow is always allowed, because rolling back must never wait for CI.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from strangler.control.deploy_decision import Decision, Pact, deploy_decision
from strangler.control.source_version import SourceVersionError, given_version, pact_version, source_version
from strangler.control.store import FlipRefused, Guard
from strangler.control.verifications import ContractRecordError, verifications_read
from strangler.proxy.config import ContractsConfig
from strangler.proxy.types import Mode, Route, RouteState

GATED_MODES = frozenset({Mode.CANARY, Mode.SERVICE})
NOT_GATED = "not gated"  # a service's contract state when the route table has no [contracts]
UNKNOWN = "error"  # the record, a pact file or the providers' version cannot be read: the gate refuses


class PactDirError(ValueError):
    """The pact directory is missing or holds a file that is not a pact."""


class ProviderVersionError(ValueError):
    """``provider_version_env`` names a variable that is unset or empty: the deployed version is unknown."""


def provider_version(contracts: ContractsConfig, env: Mapping[str, str] | None = None) -> str:
    """The providers' current version, as ``[contracts]`` says to find it, read now."""
    if contracts.provider_version_env:
        name = contracts.provider_version_env
        value = (os.environ if env is None else env).get(name, "").strip()
        if not value:
            raise ProviderVersionError(
                f"{name} is unset or empty: it must hold the version of the providers deployed (the commit their "
                f"images were built from, which `make contracts` verified), e.g. {name}=$(git rev-parse HEAD)")
        return given_version(value)
    if contracts.provider_version:
        return given_version(contracts.provider_version)
    return source_version(contracts.source or ".")


# What keeps the gate from telling: each one refuses the flip (and is the dashboard's "error").
UNREADABLE = (ContractRecordError, PactDirError, SourceVersionError, ProviderVersionError)


def pacts_read(directory: str | Path) -> list[Pact]:
    """Every ``*.json`` pact in ``directory``: its consumer, provider and content hash."""
    directory = Path(directory)
    if not directory.is_dir():
        raise PactDirError(f"pact directory {directory} does not exist")
    pacts = []
    for path in sorted(directory.glob("*.json")):
        try:
            content = path.read_bytes()
            data = json.loads(content)
            pacts.append(Pact(data["consumer"]["name"], data["provider"]["name"], pact_version(content)))
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise PactDirError(f"{path}: not a readable pact file ({type(exc).__name__}: {exc})") from None
    return pacts


def contracts_decision(contracts: ContractsConfig, service: str) -> Decision:
    """Read the record, the pact files and the providers' version, and decide (I/O at this edge)."""
    providers = contracts.providers.get(service, ())
    version = provider_version(contracts)
    return deploy_decision(verifications_read(contracts.record), service=service, providers=providers,
                           pacts=pacts_read(contracts.pacts), provider_versions=dict.fromkeys(providers, version))


def contracts_report(contracts: ContractsConfig | None, services: Iterable[str]) -> dict[str, dict[str, Any]]:
    """Each service's contract state for the dashboard: the gate's decision, or why there is none."""
    if contracts is None:
        message = "no [contracts] in the route table: flips are not gated"
        return {s: {"service": s, "state": NOT_GATED, "message": message, "latest": []} for s in services}
    report = {}
    for service in services:
        try:
            decision = contracts_decision(contracts, service)
        except UNREADABLE as exc:
            report[service] = {"service": service, "state": UNKNOWN, "message": str(exc), "latest": []}
            continue
        report[service] = {"service": service, "state": decision.state, "message": decision.describe(),
                           "latest": [r.found.as_dict() for r in decision.requirements if r.found is not None]}
    return report


def contract_guard(contracts: ContractsConfig) -> Guard:
    """A store guard refusing canary/service flips of a service can-i-deploy would say no to."""

    def guard(route: Route, current: RouteState, new: RouteState) -> None:
        if route.service is None or new.mode not in GATED_MODES:
            return
        try:
            decision = contracts_decision(contracts, route.service)
        except UNREADABLE as exc:
            raise FlipRefused(f"route {route.name!r}: cannot tell whether the contracts of {route.service!r} "
                              f"pass: {exc}") from None
        if not decision.ok:
            raise FlipRefused(f"route {route.name!r} cannot go to {new.mode.value}: {decision.describe()}; "
                              f"run `make contracts`, or pass --force with a --reason")

    return guard


def config_guard(contracts: ContractsConfig | None, *more: Guard | None) -> Guard | None:
    """The guards a route table asks for: its ``[contracts]``'s, then ``more`` (the sync gate,
    strangler.control.sync_gate); None when it asks for none."""
    guards = [g for g in (contract_guard(contracts) if contracts else None, *more) if g is not None]
    if not guards:
        return None

    def guard(route: Route, current: RouteState, new: RouteState) -> None:
        for one in guards:
            one(route, current, new)

    return guard
