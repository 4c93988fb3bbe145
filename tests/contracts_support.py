"""What the cutover tests need from the contracts: a verification record that lets the strangler
flip payments to canary/service for the code as it is, as `make contracts` leaves it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CONTRACTS_RECORD = ROOT / "contracts" / "verifications.jsonl"


def contracts_verified(record: Path = CONTRACTS_RECORD) -> None:
    """Run the Pact verification of payments unless can-i-deploy already says yes for this code."""
    ask = [sys.executable, "-m", "contracts.can_i_deploy", "--service", "payments", "--record", str(record)]
    if subprocess.run(ask, cwd=ROOT, capture_output=True, timeout=120).returncode == 0:
        return
    for against in ("monolith", "service"):
        verify = subprocess.run([sys.executable, "-m", "contracts.verify", "--against", against, "--record", str(record)],
                                cwd=ROOT, capture_output=True, text=True, timeout=600)
        assert verify.returncode == 0, f"contracts against the {against} fail:\n{verify.stdout[-4000:]}{verify.stderr[-2000:]}"
    answer = subprocess.run(ask, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert answer.returncode == 0, answer.stdout + answer.stderr
