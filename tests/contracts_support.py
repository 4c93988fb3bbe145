"""What the cutover and contract tests need from the contracts: a verification record that lets the
strangler flip payments to canary/service for the code as it is (as `make contracts` leaves it),
records written the way the verification writes them, and copies of the tree to patch."""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from contracts.can_i_deploy import Requirement, requirements
from strangler.control.verifications import PASSED, Verification, verification_append

ROOT = Path(__file__).resolve().parent.parent
PACTS = ROOT / "contracts" / "pacts"
CONTRACTS_RECORD = ROOT / "contracts" / "verifications.jsonl"


def contracts_verified(record: Path = CONTRACTS_RECORD, *, service: str = "payments") -> None:
    """Run the Pact verification of ``service`` unless can-i-deploy already says yes for this code."""
    result = subprocess.run([sys.executable, "-m", "contracts.current", "--service", service, "--record", str(record)],
                            cwd=ROOT, capture_output=True, text=True, timeout=1300)
    assert result.returncode == 0, f"{service} contracts do not pass:\n{result.stdout[-4000:]}{result.stderr[-2000:]}"


def record_all(record: Path, result: str = PASSED, *, root: Path = ROOT, pacts: Path = PACTS,
               keep: Callable[[Requirement], bool] = lambda req: True,
               provider_version_of: Callable[[Requirement], str] | None = None, service: str = "payments") -> int:
    """A verification of every pact of ``service`` against both implementations at the versions of
    ``root`` and ``pacts`` (only those ``keep`` accepts); returns how many lines were written."""
    count = 0
    for req in requirements(service, pacts=pacts, record=record, root=root):
        if not keep(req):
            continue
        pv = provider_version_of(req) if provider_version_of else req.provider_version
        verification_append(record, Verification(
            at=f"2026-11-21T10:00:{count:02d}+00:00", service=service, consumer=req.consumer,
            consumer_version=req.consumer_version, provider=req.provider, provider_version=pv,
            against=req.against, result=result, summary="test"))
        count += 1
    return count


def tree_copy(dest: Path) -> Path:
    """The files of this checkout that git knows of or would add (tracked and not ignored), committed
    in a git repository of their own: a tree to patch, with a provider version of its own."""
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=ROOT,
                            capture_output=True, check=True, timeout=60).stdout.decode().split("\0")
    for name in filter(None, listed):
        source = ROOT / name
        if not source.is_file():  # a tracked file deleted in the work tree is simply absent
            continue
        (dest / name).parent.mkdir(parents=True, exist_ok=True)
        try:
            shutil.copy2(source, dest / name)
        except FileNotFoundError:  # removed meanwhile (another test's scratch module)
            continue
    git = ["git", "-c", "user.name=test", "-c", "user.email=test@example.invalid", "-c", "commit.gpgsign=false"]
    for argv in (["init", "-q"], ["add", "-A"], ["commit", "-q", "-m", "copy"]):
        subprocess.run([*git, *argv], cwd=dest, capture_output=True, check=True, timeout=60)
    return dest


def patch(root: Path, name: str, old: str, new: str) -> None:
    """Replace ``old`` (which must occur exactly once, so a drifting source fails loudly) by ``new``."""
    path = root / name
    text = path.read_text()
    assert text.count(old) == 1, f"{name}: the text to patch occurs {text.count(old)} times, not once:\n{old}"
    path.write_text(text.replace(old, new))
