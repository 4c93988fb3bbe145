"""Record that a version was deployed to an environment, offline in the verification record, so
that can-i-deploy can ask about that environment (``--to-environment``).

    python -m contracts.record_deployment --environment ENV (--service SERVICE | --consumer NAME)
                                          [--record PATH] [--pacts DIR] [--root DIR]

``--service`` records the version of the tree (``--root``) for each of the service's providers;
``--consumer`` records the version of each of that consumer's pact files (``--pacts``): a
consumer's version is its contract. A later deployment to the same environment replaces an earlier
one. A Pact Broker, when configured, is not told (its own `pact broker record-deployment` is).
Exit 0 recorded, 2 bad arguments or nothing to record.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from collections.abc import Sequence
from pathlib import Path

from contracts import participants
from contracts.pactfiles import PACT_DIR, PactFileError, pact_files
from contracts.record import DEFAULT_RECORD
from contracts.versions import REPO_ROOT, consumer_version, provider_version
from strangler.control.source_version import SourceVersionError
from strangler.control.verifications import (
    ContractRecordError,
    Deployment,
    environment_check,
    verification_append,
)

EXIT_BAD = 2


def deployments_for(args: argparse.Namespace, at: str) -> list[Deployment]:
    env = environment_check(args.environment)
    if args.service:
        return [Deployment(at, env, provider, provider_version(provider, root=args.root))
                for provider in participants.SERVICES[args.service]]
    pacts = pact_files(args.pacts, consumers=[args.consumer])
    if not pacts:
        raise ValueError(f"no pact of consumer {args.consumer!r} in {args.pacts}")
    return [Deployment(at, env, p.consumer, consumer_version(p.path), provider=p.provider) for p in pacts]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--environment", required=True)
    who = parser.add_mutually_exclusive_group(required=True)
    who.add_argument("--service", choices=sorted(participants.SERVICES), help="a provider's deployment")
    who.add_argument("--consumer", help="a consumer's deployment (the versions of its pact files)")
    parser.add_argument("--record", type=Path, default=DEFAULT_RECORD)
    parser.add_argument("--pacts", type=Path, default=PACT_DIR)
    parser.add_argument("--root", type=Path, default=REPO_ROOT, help="the source tree deployed (--service)")
    args = parser.parse_args(argv)
    at = dt.datetime.now(tz=dt.UTC).isoformat(timespec="seconds")
    try:
        deployments = deployments_for(args, at)
    except (ContractRecordError, PactFileError, SourceVersionError, ValueError) as exc:
        print(f"record-deployment: {exc}", file=sys.stderr)
        return EXIT_BAD
    for d in deployments:
        verification_append(args.record, d)
        pact = f" (its pact with {d.provider})" if d.provider else ""
        print(f"recorded {d.pacticipant} {d.version}{pact} as deployed in {d.environment}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
