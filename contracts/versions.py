"""Versions of what a verification covered, for the verification record (and a broker).

A consumer's version is the hash of its pact file: the contract itself, whichever commit wrote it.
A provider's version is the hash of the provider's source, so a record line says exactly which
code was verified, even in a working tree with uncommitted changes (or a patched copy).
"""

from __future__ import annotations

import hashlib
import subprocess
from pathlib import Path

from contracts.participants import PAYMENTS, PAYMENTS_EVENTS

REPO_ROOT = Path(__file__).resolve().parents[1]
# The code that answers for each provider, in the monolith and in the extracted service alike.
_PAYMENTS_CODE = ("monolith/kernel", "monolith/payments", "extracted/payments/payments_service")
PROVIDER_SOURCES: dict[str, tuple[str, ...]] = {PAYMENTS: _PAYMENTS_CODE, PAYMENTS_EVENTS: _PAYMENTS_CODE}
SHORT = 12  # hex characters kept


def consumer_version(pact_file: Path) -> str:
    return hashlib.sha256(pact_file.read_bytes()).hexdigest()[:SHORT]


def provider_version(provider: str, *, root: Path = REPO_ROOT) -> str:
    """sha256 over the relative path and content of every file of the provider's code under ``root``
    (caches excluded)."""
    try:
        sources = PROVIDER_SOURCES[provider]
    except KeyError:
        raise KeyError(f"no source list for provider {provider!r} in PROVIDER_SOURCES") from None
    digest = hashlib.sha256()
    for source in sources:
        base = root / source
        if not base.is_dir():
            raise FileNotFoundError(f"provider source {base} is missing")
        for path in sorted(p for p in base.rglob("*") if p.is_file() and "__pycache__" not in p.parts):
            digest.update(path.relative_to(root).as_posix().encode() + b"\0")
            digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()[:SHORT]


def git_branch(root: Path) -> str | None:
    """The checked-out branch, for a broker's provider branch; None outside a git work tree."""
    try:
        result = subprocess.run(["git", "rev-parse", "--abbrev-ref", "HEAD"], cwd=root, capture_output=True,
                                text=True, timeout=10, check=False)
    except OSError:
        return None
    branch = result.stdout.strip()
    return branch if result.returncode == 0 and branch and branch != "HEAD" else None
