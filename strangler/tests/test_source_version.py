"""The versions the flip gate and the contract tooling share: a pact's hash, a tree's commit and
its dirty marker, on real throwaway git repositories."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from strangler.control.source_version import (
    DIRTY,
    SourceVersionError,
    dirty_digest,
    given_version,
    pact_version,
    source_version,
)

GIT = ["git", "-c", "user.name=t", "-c", "user.email=t@example.invalid", "-c", "commit.gpgsign=false"]


def git(repo: Path, *argv: str) -> str:
    return subprocess.run([*GIT, *argv], cwd=repo, capture_output=True, text=True, check=True).stdout.strip()


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    (tmp_path / ".gitignore").write_text("var/\n")
    (tmp_path / "settings.py").write_text('EXCEPTION_HANDLER = "errors.handler"\n')
    git(tmp_path, "init", "-q")
    git(tmp_path, "add", "-A")
    git(tmp_path, "commit", "-q", "-m", "one")
    return tmp_path


def test_a_pact_version_is_the_hash_of_its_bytes() -> None:
    assert pact_version(b"{}") == pact_version(b"{}") != pact_version(b"{} ")
    assert len(pact_version(b"{}")) == 12


def test_the_dirty_digest_tells_changes_and_untracked_files_apart() -> None:
    assert dirty_digest(b"d", {}) != dirty_digest(b"d", {"a.py": b""}) != dirty_digest(b"d", {"a.py": b"x"})
    assert dirty_digest(b"", {"a.py": b"x", "b.py": b"y"}) == dirty_digest(b"", {"b.py": b"y", "a.py": b"x"})


def test_a_clean_tree_is_its_commit_and_ignored_files_do_not_count(repo: Path) -> None:
    commit = git(repo, "rev-parse", "HEAD")
    (repo / "var").mkdir()
    (repo / "var" / "verifications.jsonl").write_text("{}\n")
    assert source_version(repo) == commit[:12]
    assert source_version(repo / "var") == commit[:12]  # any folder of the tree


def test_a_change_makes_the_version_dirty_and_each_change_its_own(repo: Path) -> None:
    commit = git(repo, "rev-parse", "HEAD")[:12]
    settings = repo / "settings.py"
    settings.write_text('EXCEPTION_HANDLER = "rest_framework.views.exception_handler"\n')
    changed = source_version(repo)
    assert changed.startswith(commit + DIRTY)
    git(repo, "add", "settings.py")  # staged is still not committed
    assert source_version(repo) == changed
    (repo / "urls.py").write_text("urlpatterns = []\n")
    assert source_version(repo) not in (changed, commit)
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "two")
    assert source_version(repo) == git(repo, "rev-parse", "HEAD")[:12]


def test_a_tree_without_a_version_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(SourceVersionError, match="not a directory"):
        source_version(tmp_path / "absent")
    with pytest.raises(SourceVersionError, match="not in a git work tree"):
        source_version(tmp_path)
    git(tmp_path, "init", "-q")
    with pytest.raises(SourceVersionError, match="has no commit yet"):
        source_version(tmp_path)


def test_a_given_full_commit_id_is_the_version_source_version_records(tmp_path: Path) -> None:
    """A deployment passes `git rev-parse HEAD`; the contract runs recorded the short form."""
    subprocess.run([*GIT, "init", "-q", str(tmp_path)], check=True)
    (tmp_path / "a.txt").write_text("a")
    subprocess.run([*GIT, "-C", str(tmp_path), "add", "-A"], check=True)
    subprocess.run([*GIT, "-C", str(tmp_path), "commit", "-q", "-m", "a"], check=True)
    full = subprocess.run(["git", "-C", str(tmp_path), "rev-parse", "HEAD"], capture_output=True, text=True,
                          check=True).stdout
    assert given_version(full) == source_version(tmp_path)  # rev-parse's trailing newline included
    assert given_version("ab" * 32) == "ab" * 6  # a SHA-256 repository's id
    for other in ("0123456789ab", f"0123456789ab{DIRTY}cafe", "v1.2", "ABCDEF0123" * 4):
        assert given_version(other) == other
