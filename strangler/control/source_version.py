"""The versions a contract verification is about, computed one way for the contract tooling
(contracts/versions.py) and for the strangler's flip gate (strangler/control/flip_gate.py).

A pact's version (Pact's "consumer version") is the hash of the pact file's bytes: the contract
itself, whichever commit wrote it. A provider's version follows the Pact convention: the git commit
of the tree the provider runs from, plus ``+dirty.<hash>`` when the work tree differs from that
commit, the hash covering the diff against HEAD and every untracked, not ignored file. Everything
that shapes a response (settings, urls, authentication, error handlers, provider states, locked
dependencies) is in the commit, so no list of folders can miss one. A version given from outside (a
deployment's ``PROVIDER_VERSION``, usually ``git rev-parse HEAD``) is the same version when it is the
commit's full id: ``given_version`` shortens it as ``source_version`` does.
"""

from __future__ import annotations

import hashlib
import re
import subprocess
from pathlib import Path

SHORT = 12  # hex characters kept of a commit or a hash
DIRTY = "+dirty."
FULL_COMMIT = re.compile(r"^(?:[0-9a-f]{40}|[0-9a-f]{64})$")  # a SHA-1 or SHA-256 commit id, as git prints it
GIT_TIMEOUT = 30.0
# The diff is hashed, so it must not depend on a user's diff drivers, colours or abbreviations.
_DIFF = ("diff", "HEAD", "--binary", "--full-index", "--no-ext-diff", "--no-textconv", "--no-color",
         "--src-prefix=a/", "--dst-prefix=b/")


class SourceVersionError(ValueError):
    """The tree has no version: not a git work tree, no commit yet, or git is missing."""


def pact_version(content: bytes) -> str:
    """The version of a pact: the hash of its file's bytes."""
    return hashlib.sha256(content).hexdigest()[:SHORT]


def given_version(value: str) -> str:
    """A providers' version given as text: a full commit id becomes its first ``SHORT`` characters,
    what ``source_version`` recorded for that commit; anything else is taken as it is."""
    value = value.strip()
    return value[:SHORT] if FULL_COMMIT.match(value) else value


def _git(top: Path, *argv: str) -> bytes:
    try:
        result = subprocess.run(["git", "-C", str(top), *argv], capture_output=True, timeout=GIT_TIMEOUT, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise SourceVersionError(f"git {argv[0]} in {top}: {exc}") from None
    if result.returncode != 0:
        raise SourceVersionError(f"git {argv[0]} in {top}: {result.stderr.decode(errors='replace').strip()}")
    return result.stdout


def dirty_digest(diff: bytes, untracked: dict[str, bytes]) -> str:
    """The hash of a work tree's changes: the diff against HEAD, then each untracked file by name."""
    digest = hashlib.sha256(diff)
    for name in sorted(untracked):
        digest.update(b"\0untracked\0" + name.encode() + b"\0" + hashlib.sha256(untracked[name]).digest())
    return digest.hexdigest()[:SHORT]


def source_version(root: str | Path) -> str:
    """``<commit>`` or ``<commit>+dirty.<hash>`` of the git work tree holding ``root``."""
    where = Path(root)
    if not where.is_dir():
        raise SourceVersionError(f"source tree {where} is not a directory")
    try:
        top = Path(_git(where, "rev-parse", "--show-toplevel").decode().strip())
    except SourceVersionError as exc:
        raise SourceVersionError(f"{where} is not in a git work tree: a provider version is a commit "
                                 f"(verify a clone, not an export) ({exc})") from None
    try:
        commit = _git(top, "rev-parse", "--verify", "HEAD^{commit}").decode().strip()
    except SourceVersionError:
        raise SourceVersionError(f"{top} has no commit yet: commit the tree before verifying it") from None
    names = [n for n in _git(top, "ls-files", "-z", "--others", "--exclude-standard").decode().split("\0") if n]
    untracked = {}
    for name in names:
        try:
            untracked[name] = (top / name).read_bytes()
        except (FileNotFoundError, IsADirectoryError):  # gone since git listed it
            continue
    diff = _git(top, *_DIFF)
    if not diff and not untracked:
        return commit[:SHORT]
    return f"{commit[:SHORT]}{DIRTY}{dirty_digest(diff, untracked)}"
