"""Verify the committed pacts against a live implementation of payments and record the outcome.

    python -m contracts.verify --against monolith|service [--record PATH] [--pacts DIR] [--root DIR]
                               [--only CONSUMER ...] [--provider PROVIDER ...]

``--against monolith`` serves payments from the monolith; ``--against service`` from the
extracted service, which identifies shoppers at a real monolith process. Both run under gunicorn
on scratch SQLite files (contracts/providers/servers.py says why). The HTTP pacts of ``payments``
are replayed per consumer, each with that consumer's own credential; the message pacts of
``payments-events`` are produced by the provider's real writes in this process, configured as
that project. Every pact verified appends a line to the record (strangler/control/flip_gate.py), which
gates the strangler's canary/service flips. ``--root`` verifies another copy of the tree.

Before any provider starts, the provider states and messages the pacts name are checked against
the handlers; a missing one stops the run at once, naming it. Exit status: 0 all verified, 1 a
verification failed, 2 nothing could be verified (no pacts, provider states or messages without a
handler, provider code that does not load or start, a root outside git). Unverified pacts are recorded as failed too,
so an older pass can never stand for code that was not verified.
"""

from __future__ import annotations

import argparse
import os
import secrets
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from contracts.pactfiles import PactFile, PactFileError, missing_handlers, pact_files
from contracts.participants import AGAINST, MONOLITH_ORDERS, PAYMENTS, PAYMENTS_EVENTS, STOREFRONT
from contracts.record import DEFAULT_RECORD, verification_record
from contracts.versions import REPO_ROOT, consumer_version, git_branch, provider_version
from strangler.control.source_version import SourceVersionError, source_version

# Whose credential each HTTP consumer's requests carry: the storefront's come through the proxy.
CALLERS = {STOREFRONT: "strangler", MONOLITH_ORDERS: "monolith"}
SHOPPERS = frozenset({STOREFRONT})  # consumers whose requests are signed by a shopper's token
EXIT_FAILED, EXIT_UNVERIFIABLE = 1, 2


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m contracts.verify", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--against", choices=AGAINST, required=True,
                        help="which implementation serves payments")
    parser.add_argument("--record", type=Path, default=DEFAULT_RECORD, help=f"default: {DEFAULT_RECORD}")
    parser.add_argument("--pacts", type=Path, help="pact directory (default: <root>/contracts/pacts)")
    parser.add_argument("--root", type=Path, default=REPO_ROOT, help="repository root whose code is verified")
    parser.add_argument("--only", action="append", metavar="CONSUMER", help="only this consumer's pacts")
    parser.add_argument("--provider", action="append", choices=(PAYMENTS, PAYMENTS_EVENTS),
                        help="only this provider's pacts")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    os.environ["PACT_DO_NOT_TRACK"] = "true"
    root = args.root.resolve()
    directory = (args.pacts or root / "contracts" / "pacts").resolve()
    try:
        pacts = pact_files(directory, providers=args.provider or (PAYMENTS, PAYMENTS_EVENTS),
                           consumers=args.only)
    except PactFileError as exc:
        return _unverifiable(str(exc))
    if not pacts:
        return _unverifiable(f"no pact files to verify in {directory} (filters: --only {args.only}, "
                             f"--provider {args.provider})")
    unknown = sorted({p.consumer for p in pacts if p.provider == PAYMENTS and p.consumer not in CALLERS})
    if unknown:
        return _unverifiable(f"no credential caller for HTTP consumer(s) {', '.join(unknown)}: "
                             "add them to CALLERS")
    try:
        source_version(root)  # a tree without a version has nothing to record a verification under
    except SourceVersionError as exc:
        return _unverifiable(str(exc))
    with tempfile.TemporaryDirectory(prefix="contracts-verify-") as tmp:
        return _verify(pacts, against=args.against, root=root, record=args.record.resolve(), tmp=Path(tmp))


def _unverifiable(message: str) -> int:
    print(f"contracts.verify: {message}", file=sys.stderr)
    return EXIT_UNVERIFIABLE


def _verify(pacts: list[PactFile], *, against: str, root: Path, record: Path, tmp: Path) -> int:
    from contracts.providers.projects import django_configure, project

    secret = secrets.token_urlsafe(32)
    verified = project(against, root)
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
        from contracts.providers.messages import message_producers
    except Exception as exc:  # the provider's code does not even load: that is a failed verification
        return unverified(f"the {verified.name} code in {root} does not load: {type(exc).__name__}: {exc}")
    missing = missing_handlers(pacts, LiveProviders.states_known(), message_producers())
    if missing:
        lines = "\n".join(f"  {name}: {', '.join(names)}" for name, names in missing.items())
        return unverified("not verified: the pacts name provider states or messages without a handler: "
                          f"{'; '.join(n for names in missing.values() for n in names)}\n{lines}")
    print(f"verifying {len(pacts)} pact(s) against the {against} ({verified.name} from {root})")
    http = [p for p in pacts if not p.is_message_pact]
    try:
        providers = LiveProviders.start(verified, env, against=against, root=root, tmp=tmp, secret=secret,
                                        http=bool(http), shopper=any(p.consumer in SHOPPERS for p in http))
    except Exception as exc:  # migrations, a server that exits, a refused sign-up
        return unverified(f"not verified: the providers did not start: {type(exc).__name__}: {exc}")
    failed = False
    try:
        for pact in pacts:
            outcome = providers.verify(pact, caller=CALLERS.get(pact.consumer),
                                       as_shopper=pact.consumer in SHOPPERS, version=versions[pact.provider],
                                       branch=git_branch(root))
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

