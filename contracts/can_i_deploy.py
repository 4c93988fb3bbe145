"""May this service's code take traffic? `make can-i-deploy SERVICE=payments`.

Offline (no ``PACT_BROKER_BASE_URL``): yes when, for every committed pact whose provider belongs to
the service, the verification record holds a passing verification of THIS pact content against
THIS provider source, on both implementations (the monolith's and the extracted service's). A pass
recorded for older code or an older pact does not count: the code changed since. With a broker,
the broker's matrix answers for each of the service's providers at this version instead.

Exit 0 = yes, 1 = no, 2 = cannot tell (bad arguments, unreadable record, broker unreachable).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from contracts import participants
from contracts.broker import Broker, BrokerError
from contracts.pactfiles import PACT_DIR
from contracts.record import DEFAULT_RECORD
from contracts.versions import REPO_ROOT, consumer_version, provider_version
from strangler.contracts import PASSED, ContractRecordError, Verification, verifications_read


@dataclass(frozen=True, slots=True)
class Requirement:
    """One pact that must be verified against one implementation."""

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


def requirements(service: str, *, pacts: Path, record: Path, root: Path) -> list[Requirement]:
    providers = participants.SERVICES[service]
    version = {p: provider_version(p, root=root) for p in providers}
    latest: dict[tuple[str, str, str], Verification] = {}
    for v in verifications_read(record):
        if v.service == service:
            latest[v.key] = v
    out = []
    for pact_file in sorted(pacts.glob("*.json")):
        pact = json.loads(pact_file.read_text(encoding="utf-8"))
        consumer, provider = pact["consumer"]["name"], pact["provider"]["name"]
        if provider not in providers:
            continue
        for against in participants.AGAINST:
            out.append(Requirement(consumer, provider, against, consumer_version(pact_file), version[provider],
                                   latest.get((consumer, provider, against))))
    return out


def offline(service: str, *, pacts: Path, record: Path, root: Path) -> bool:
    needed = requirements(service, pacts=pacts, record=record, root=root)
    if not needed:
        print(f"no: no pact in {pacts} names a provider of {service!r}")
        return False
    width = max(len(r.consumer) for r in needed)
    for r in needed:
        mark = "yes" if r.met else "NO "
        print(f"  {mark}  {r.consumer:<{width}} -> {r.provider:<16} against the {r.against:<8} {r.verdict}")
    missing = [r for r in needed if not r.met]
    if missing:
        print(f"no: {len(missing)} of {len(needed)} verifications missing, failed or stale for {service!r}; "
              f"run `make contracts`")
        return False
    print(f"yes: {service} ({needed[0].provider_version}) verified against all {len(needed)} pact/implementation pairs")
    return True


def online(service: str, broker: Broker, *, root: Path) -> bool:
    answers = []
    for provider in participants.SERVICES[service]:
        version = provider_version(provider, root=root)
        ok, reason = broker.can_i_deploy(provider, version)
        print(f"  {'yes' if ok else 'NO '}  {provider} {version}: {reason}")
        answers.append(ok)
    print(f"{'yes' if all(answers) else 'no'}: the broker at {broker.base_url} says so for {service!r}")
    return all(answers)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--service", required=True, choices=sorted(participants.SERVICES))
    parser.add_argument("--record", type=Path, default=DEFAULT_RECORD)
    parser.add_argument("--pacts", type=Path, default=PACT_DIR)
    parser.add_argument("--root", type=Path, default=REPO_ROOT, help="the source tree whose version is asked about")
    args = parser.parse_args(argv)
    try:
        broker = Broker.from_env()
        if broker is not None:
            return 0 if online(args.service, broker, root=args.root) else 1
        return 0 if offline(args.service, pacts=args.pacts, record=args.record, root=args.root) else 1
    except (ContractRecordError, BrokerError, OSError, ValueError, KeyError) as exc:
        print(f"cannot tell: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
