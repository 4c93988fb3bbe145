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
    result = subprocess.run([sys.executable, "-m", "contracts.current", "--service", "payments", "--record", str(record)],
                            cwd=ROOT, capture_output=True, text=True, timeout=1300)
    assert result.returncode == 0, f"payments contracts do not pass:\n{result.stdout[-4000:]}{result.stderr[-2000:]}"
