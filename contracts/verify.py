"""Verify the committed pacts against a live implementation of each service and record the outcome.

    python -m contracts.verify --against monolith|service [--record PATH] [--pacts DIR] [--root DIR]
                               [--service SERVICE] [--only CONSUMER ...] [--provider PROVIDER ...]

Every service of contracts/participants.py whose pacts are selected (all by default) is verified
as contracts/providers/described.py describes it: ``--against monolith`` serves its providers
from the monolith; ``--against service`` from its extracted service (payments' identifies
shoppers at a real monolith process beside it). All run under gunicorn on scratch SQLite files
(contracts/providers/servers.py says why). HTTP pacts are replayed per consumer, each with that
consumer's own credential; message pacts (``payments-events``, ``catalog-events``) are produced by
the provider's real writes in this process, configured as that project. A process is configured as one project,
so when the pacts span several services each is verified by a child process of its own
(``--service``). Every pact verified appends a line to the record (strangler/control/flip_gate.py),
which gates the strangler's canary/service flips. ``--root`` verifies another copy of the tree.

Before any provider starts, the provider states and messages the pacts name are checked against
the handlers; a missing one stops the run at once, naming it. Exit status: 0 all verified, 1 a
verification failed, 2 nothing could be verified (no pacts, provider states or messages without a
handler, provider code that does not load or start, a root outside git); over several services, the
worst of theirs. Unverified pacts are recorded as failed too, so an older pass can never stand for
code that was not verified.
"""

from __future__ import annotations

import argparse
import os
import secrets
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from contracts.pactfiles import PactFile, PactFileError, missing_handlers, pact_files
from contracts.participants import AGAINST, SERVICES
from contracts.providers.described import VERIFIED, VerifiedService
from contracts.record import DEFAULT_RECORD, service_of, verification_record
from contracts.versions import PROVIDERS, REPO_ROOT, consumer_version, git_branch, provider_version
from strangler.control.source_version import SourceVersionError, source_version

EXIT_FAILED, EXIT_UNVERIFIABLE = 1, 2
SERVICE_TIMEOUT = 900  # seconds for one service's child process (migrations, servers, every pact)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m contracts.verify", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--against", choices=AGAINST, required=True,
                        help="which implementation serves the providers")
    parser.add_argument("--record", type=Path, default=DEFAULT_RECORD, help=f"default: {DEFAULT_RECORD}")
    parser.add_argument("--pacts", type=Path, help="pact directory (default: <root>/contracts/pacts)")
    parser.add_argument("--root", type=Path, default=REPO_ROOT, help="repository root whose code is verified")
    parser.add_argument("--service", choices=sorted(SERVICES), help="only this service's providers' pacts")
    parser.add_argument("--only", action="append", metavar="CONSUMER", help="only this consumer's pacts")
    parser.add_argument("--provider", action="append", choices=sorted(PROVIDERS), help="only this provider's pacts")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    os.environ["PACT_DO_NOT_TRACK"] = "true"
    root = args.root.resolve()
    directory = (args.pacts or root / "contracts" / "pacts").resolve()
    providers = set(args.provider or PROVIDERS) & set(SERVICES[args.service] if args.service else PROVIDERS)
    try:
        pacts = pact_files(directory, providers=providers, consumers=args.only)
    except PactFileError as exc:
        return _unverifiable(str(exc))
    if not pacts:
        return _unverifiable(f"no pact files to verify in {directory} (filters: --service {args.service}, "
                             f"--only {args.only}, --provider {args.provider})")
    services = sorted({service_of(p.provider) for p in pacts})
    if len(services) > 1:
        return max(_child(service, args, root=root, pacts=directory) for service in services)
    described = VERIFIED[services[0]]
    unknown = sorted({p.consumer for p in pacts if not p.is_message_pact and p.consumer not in described.callers})
    if unknown:
        return _unverifiable(f"no credential caller for HTTP consumer(s) {', '.join(unknown)} of {described.service}: "
                             "add them to its callers in contracts/providers/described.py")
    try:
        source_version(root)  # a tree without a version has nothing to record a verification under
    except SourceVersionError as exc:
        return _unverifiable(str(exc))
    with tempfile.TemporaryDirectory(prefix="contracts-verify-") as tmp:
        return _verify(pacts, described=described, against=args.against, root=root, record=args.record.resolve(),
                       tmp=Path(tmp))


def _child(service: str, args: argparse.Namespace, *, root: Path, pacts: Path) -> int:
    """Verify one service's pacts in a process of its own (configured as that service's project)."""
    argv = ["--against", args.against, "--service", service, "--record", str(args.record.resolve()),
            "--pacts", str(pacts), "--root", str(root)]
    argv += [f"--only={consumer}" for consumer in args.only or ()]
    argv += [f"--provider={provider}" for provider in args.provider or ()]
    sys.stdout.flush()
    return subprocess.run([sys.executable, "-m", "contracts.verify", *argv], cwd=REPO_ROOT,
                          timeout=SERVICE_TIMEOUT, check=False).returncode


def _unverifiable(message: str) -> int:
    print(f"contracts.verify: {message}", file=sys.stderr)
    return EXIT_UNVERIFIABLE


def _verify(pacts: list[PactFile], *, described: VerifiedService, against: str, root: Path, record: Path,
            tmp: Path) -> int:
    from contracts.providers.projects import django_configure, project

    secret = secrets.token_urlsafe(32)
    verified = project(against, root, described.project)
    env = verified.env(var_dir=tmp, secret=secret)
    versions = {provider: provider_version(provider, root=root) for provider in {p.provider for p in pacts}}

    def unverified(reason: str) -> int:
        """Nothing could be verified: each pact is recorded as failed, so an older pass of other code
        cannot let a flip through."""
        for pact in pacts:
            verification_record(record, consumer=pact.consumer, consumer_version=consumer_version(pact.path),
                                provider=pact.provider, provider_version=versions[pact.provider],
                                against=against, passed=False, summary=reason.splitlines()[0])
        return _unverifiable(f"{reason}\nrecorded as failed in {record}")

    try:
        django_configure(verified, env)
        # Only now: these import the provider's code, from ``root``, in its project's settings.
        from contracts.providers.live import LiveProviders

        states, messages = LiveProviders.states_known(described), described.message_producers()
    except Exception as exc:  # the provider's code does not even load: that is a failed verification
        return unverified(f"the {verified.name} code in {root} does not load: {type(exc).__name__}: {exc}")
    missing = missing_handlers(pacts, states, messages)
    if missing:
        lines = "\n".join(f"  {name}: {', '.join(names)}" for name, names in missing.items())
        return unverified("not verified: the pacts name provider states or messages without a handler: "
                          f"{'; '.join(n for names in missing.values() for n in names)}\n{lines}")
    print(f"verifying {len(pacts)} pact(s) against the {against} ({verified.name} from {root})")
    http = [p for p in pacts if not p.is_message_pact]
    try:
        providers = LiveProviders.start(verified, env, described=described, against=against, root=root, tmp=tmp,
                                        secret=secret, http=bool(http),
                                        shopper=any(p.consumer in described.shoppers for p in http))
    except Exception as exc:  # migrations, a server that exits, a refused sign-up
        return unverified(f"not verified: the providers did not start: {type(exc).__name__}: {exc}")
    failed = False
    try:
        for pact in pacts:
            outcome = providers.verify(pact, version=versions[pact.provider], branch=git_branch(root))
            verification = verification_record(
                record, consumer=pact.consumer, consumer_version=consumer_version(pact.path),
                provider=pact.provider, provider_version=versions[pact.provider], against=against,
                passed=outcome.passed, summary=outcome.summary)
            print(f"{'PASS' if outcome.passed else 'FAIL'} {pact.consumer} -> {pact.provider} against the "
                  f"{against}: {outcome.summary} (consumer {verification.consumer_version}, "
                  f"provider {verification.provider_version})")
            if not outcome.passed:
                failed = True
                print(_indented(outcome.output))
                print(_indented(providers.logs()))
    finally:
        providers.stop()
    print(f"recorded in {record}")
    return EXIT_FAILED if failed else 0


def _indented(text: str) -> str:
    return "\n".join(f"    {line}" for line in text.strip().splitlines())


if __name__ == "__main__":
    sys.exit(main())

