"""Versions of what a verification covered, for the verification record (and a broker).

A consumer's version is the hash of its pact file: the contract itself, whichever commit wrote it.

A provider's version is the Pact convention: the git commit of the tree, plus ``+dirty.<hash>``
(the diff against HEAD and the untracked files) when the work tree has changes. Chosen over a hash
of the provider's folders because what shapes a response is not only the payments code: the
projects' settings (DRF authentication and the exception handler shape every error body), urls,
the users context's token introspection, internal credentials, the provider-state handlers and the
locked dependencies (constraints.txt) all do, and a list of folders misses the next one. The price:
any commit, even one of docs or tests, needs a new verification (`make contracts`, or
``python -m contracts.current`` which verifies only when can-i-deploy says no). Both providers of
payments share the version of the tree they run from. A tree outside git (an export) has no
version and cannot be verified: verify a clone. The strangler's flip gate computes the same
versions with the same code (strangler/control/source_version.py).
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from contracts.participants import SERVICES
from strangler.control.source_version import pact_version, source_version

REPO_ROOT = Path(__file__).resolve().parents[1]
PROVIDERS = frozenset(p for providers in SERVICES.values() for p in providers)


def consumer_version(pact_file: Path) -> str:
    return pact_version(pact_file.read_bytes())


def provider_version(provider: str, *, root: Path = REPO_ROOT) -> str:
    """The version of ``root``'s tree, which every provider of the kit runs from."""
    if provider not in PROVIDERS:
        raise KeyError(f"unknown provider {provider!r} (known: {', '.join(sorted(PROVIDERS))})")
    return source_version(root)


def git_branch(root: Path) -> str | None:
    """The checked-out branch, for a broker's provider branch; None outside a git work tree."""
    try:
        result = subprocess.run(["git", "rev-parse", "--abbrev-ref", "HEAD"], cwd=root, capture_output=True,
                                text=True, timeout=10, check=False)
    except OSError:
        return None
    branch = result.stdout.strip()
    return branch if result.returncode == 0 and branch and branch != "HEAD" else None
