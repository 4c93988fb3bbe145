"""May this service's code take traffic? `make can-i-deploy SERVICE=payments`.

Offline (no ``PACT_BROKER_BASE_URL``): yes when, for every committed pact whose provider belongs to
the service, the verification record holds a passing verification of THIS pact content against
THIS provider version (contracts/versions.py), on both implementations (the monolith's and the
extracted service's). A pass recorded for older code or an older pact does not count: the code
changed since. The decision is the one the strangler's flip gate takes
(strangler/control/deploy_decision.py), so the two never disagree. With a broker,
the broker's matrix answers for each of the service's providers at this version instead.

Environments: ``--to-environment ENV`` asks about what runs there, from the deployments recorded
with ``python -m contracts.record_deployment``: for ``--service``, the consumer versions deployed in
ENV (a newer pact not deployed yet does not hold the provider back); for ``--consumer NAME``, that
consumer's pacts as they are now against the provider version deployed in ENV (the current tree's
without ENV). With a broker, its /can-i-deploy answers for ENV.

Exit 0 = yes, 1 = no, 2 = cannot tell (bad arguments, unreadable record, broker unreachable).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from contracts import participants
from contracts.broker import Broker, BrokerError
from contracts.environments import deployed
from contracts.pactfiles import PACT_DIR, pact_files
from contracts.record import DEFAULT_RECORD, service_of
from contracts.versions import REPO_ROOT, consumer_version, provider_version
from strangler.control.deploy_decision import Pact, Requirement, deploy_decision
from strangler.control.verifications import (
    ContractRecordError,
    deployments_read,
    environment_check,
    verifications_read,
)


def requirements(service: str, *, pacts: Path, record: Path, root: Path) -> list[Requirement]:
    """What the strangler's flip gate asks too (strangler/control/deploy_decision.py): every pact of
    the service's providers, against both implementations, at ``root``'s version."""
    providers = participants.SERVICES[service]
    found = [Pact(p.consumer, p.provider, consumer_version(p.path)) for p in pact_files(pacts, providers=providers)]
    versions = {p: provider_version(p, root=root) for p in providers}
    return _decide(record, service, found, versions)


def _decide(record: Path, service: str, pacts: list[Pact], versions: dict[str, str]) -> list[Requirement]:
    providers = participants.SERVICES[service]
    decision = deploy_decision(verifications_read(record), service=service, providers=providers, pacts=pacts,
                               provider_versions=versions, implementations=participants.AGAINST)
    return list(decision.requirements)


def _answer(needed: list[Requirement], who: str, *, nothing: str) -> bool:
    """Print one row per pact and implementation, then yes or no."""
    if not needed:
        print(f"no: {nothing}")
        return False
    width = max(len(r.consumer) for r in needed)
    for r in needed:
        mark = "yes" if r.met else "NO "
        print(f"  {mark}  {r.consumer:<{width}} -> {r.provider:<16} against the {r.against:<8} {r.verdict}")
    missing = [r for r in needed if not r.met]
    if missing:
        print(f"no: {len(missing)} of {len(needed)} verifications missing, failed or stale for {who}; "
              f"run `make contracts`")
        return False
    print(f"yes: {who} verified against all {len(needed)} pact/implementation pairs")
    return True


def offline(service: str, *, pacts: Path, record: Path, root: Path, environment: str | None = None) -> bool:
    """Without an environment: the pact files as they are now. With one: the consumer versions
    deployed there (what would call this code once it is deployed there)."""
    if environment is None:
        needed = requirements(service, pacts=pacts, record=record, root=root)
        version = provider_version(participants.SERVICES[service][0], root=root)
        return _answer(needed, f"{service} ({version})", nothing=f"no pact in {pacts} names a provider of {service!r}")
    providers = participants.SERVICES[service]
    running = [Pact(consumer, provider, version)
               for (consumer, provider), version in deployed(deployments_read(record), environment).items()
               if provider in providers]
    if not running:
        print(f"yes: no consumer of {service} is deployed in {environment}: nothing there depends on it")
        return True
    versions = {p: provider_version(p, root=root) for p in providers}
    return _answer(_decide(record, service, running, versions), f"{service} in {environment}", nothing="")


def offline_consumer(consumer: str, *, pacts: Path, record: Path, root: Path, environment: str | None = None) -> bool:
    """A consumer's pacts as they are now, verified against the provider version deployed in
    ``environment`` (or the current tree's without one)."""
    mine = pact_files(pacts, consumers=[consumer])
    if not mine:
        print(f"no: no pact of consumer {consumer!r} in {pacts}")
        return False
    running = deployed(deployments_read(record), environment) if environment else {}
    needed: list[Requirement] = []
    for pact in mine:
        service = service_of(pact.provider)
        if environment is None:
            version = provider_version(pact.provider, root=root)
        elif (version := running.get((pact.provider, ""))) is None:
            print(f"no: {pact.provider} has no deployment recorded in {environment}")
            return False
        needed += _decide(record, service, [Pact(pact.consumer, pact.provider, consumer_version(pact.path))],
                          {pact.provider: version})
    where = f" in {environment}" if environment else ""
    return _answer(needed, f"consumer {consumer}{where}", nothing="")


def online(pacticipants: list[tuple[str, str]], broker: Broker, *, environment: str | None = None) -> bool:
    answers = []
    for pacticipant, version in pacticipants:
        ok, reason = broker.can_i_deploy(pacticipant, version, environment=environment)
        print(f"  {'yes' if ok else 'NO '}  {pacticipant} {version}: {reason}")
        answers.append(ok)
    who = ", ".join(p for p, _ in pacticipants)
    print(f"{'yes' if all(answers) else 'no'}: the broker at {broker.base_url} says so for {who}")
    return all(answers)


def _pacticipants(args: argparse.Namespace) -> list[tuple[str, str]]:
    """Who asks the broker, at which version: the service's providers, or the consumer's pacts."""
    if args.service:
        return [(p, provider_version(p, root=args.root)) for p in participants.SERVICES[args.service]]
    return [(p.consumer, consumer_version(p.path)) for p in pact_files(args.pacts, consumers=[args.consumer])]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    who = parser.add_mutually_exclusive_group(required=True)
    who.add_argument("--service", choices=sorted(participants.SERVICES), help="may this service's code deploy")
    who.add_argument("--consumer", help="may this consumer's pacts (as they are now) deploy")
    parser.add_argument("--to-environment", metavar="ENV",
                        help="against what is deployed there (python -m contracts.record_deployment)")
    parser.add_argument("--record", type=Path, default=DEFAULT_RECORD)
    parser.add_argument("--pacts", type=Path, default=PACT_DIR)
    parser.add_argument("--root", type=Path, default=REPO_ROOT, help="the source tree whose version is asked about")
    args = parser.parse_args(argv)
    try:
        environment = environment_check(args.to_environment) if args.to_environment is not None else None
        broker = Broker.from_env()
        if broker is not None:
            return 0 if online(_pacticipants(args), broker, environment=environment) else 1
        ask = offline if args.service else offline_consumer
        return 0 if ask(args.service or args.consumer, pacts=args.pacts, record=args.record, root=args.root,
                        environment=environment) else 1
    except (ContractRecordError, BrokerError, OSError, ValueError, KeyError) as exc:  # PactFileError too
        print(f"cannot tell: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
