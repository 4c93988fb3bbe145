"""Make the verification record current for a service: ask can-i-deploy, and when it says no,
verify the pacts against both implementations (recording the outcome) and ask again.

What a cutover does before its first gated flip, and what the cutover tests need:

    python -m contracts.current --service payments [--record PATH]

Exit 0 when can-i-deploy says yes (at once or after verifying), 1 otherwise.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

from contracts import participants
from contracts.record import DEFAULT_RECORD
from contracts.versions import REPO_ROOT


def _run(*argv: str) -> int:
    return subprocess.run([sys.executable, "-m", *argv], cwd=REPO_ROOT, timeout=600).returncode


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--service", required=True, choices=sorted(participants.SERVICES))
    parser.add_argument("--record", type=Path, default=DEFAULT_RECORD)
    args = parser.parse_args(argv)
    ask = ("contracts.can_i_deploy", "--service", args.service, "--record", str(args.record))
    if _run(*ask) == 0:
        return 0
    for against in participants.AGAINST:
        print(f"verifying the {args.service} contracts against the {against}", flush=True)
        if _run("contracts.verify", "--against", against, "--service", args.service, "--record", str(args.record)) != 0:
            print(f"no: the contracts of {args.service} fail against the {against}", flush=True)
            return 1
    return _run(*ask)


if __name__ == "__main__":
    sys.exit(main())
