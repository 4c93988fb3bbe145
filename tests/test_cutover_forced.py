"""`deploy/cutover.py --skip-contracts`: when can-i-deploy says no, the rollout the cutover starts
sends its flips past the strangler's contract gate, and the audit trail says so (forced, naming the
skip); without the skip the gate refuses the rollout's first flip and the rollout does not start."""

from __future__ import annotations

import argparse
import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.cutover_support import stack

# db_independent: verifications and the route store on files of their own; the PostgreSQL pass skips it.
pytestmark = [pytest.mark.db_independent, pytest.mark.integration]

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("cutover", ROOT / "deploy" / "cutover.py")
cutover_module = sys.modules.setdefault("cutover", importlib.util.module_from_spec(_spec))  # dataclasses look it up
_spec.loader.exec_module(cutover_module)
Cutover, CheckFailed, parse_plan = cutover_module.Cutover, cutover_module.CheckFailed, cutover_module.parse_plan


def _cutover(tmp_path: Path, *, skip_contracts: bool):
    routes = tmp_path / "routes.toml"
    routes.write_text(stack.routes_for(ports=stack.DEFAULT_PORTS, store=f"sqlite:///{tmp_path / 'routes.db'}",
                                       record=tmp_path / "verifications.jsonl"))  # empty: can-i-deploy says no
    args = argparse.Namespace(config=routes, skip_contracts=skip_contracts, plan=parse_plan("canary:10,service"),
                              window=60.0, min_requests=50, max_error_share=0.01, max_diff_share=0.01, max_p95_ratio=1.5,
                              reconcile_in_proxy=False)
    return Cutover(args), routes


def _history(routes: Path) -> list[dict]:
    result = subprocess.run([sys.executable, "-m", "strangler", "--config", str(routes), "history", "payments",
                             "--json"], cwd=ROOT, capture_output=True, text=True, timeout=60, check=True)
    return json.loads(result.stdout)


def test_skip_contracts_flips_past_the_gate_and_the_audit_says_forced(tmp_path: Path) -> None:
    cutover, routes = _cutover(tmp_path, skip_contracts=True)
    cutover.contracts()  # says no, and goes on
    cutover.start()  # the rollout's first flip: canary 10%, past the gate
    newest = _history(routes)[0]
    assert (newest["to_mode"], newest["to_weight"], newest["actor"]) == ("canary", 10, "cutover")
    assert newest["reason"].startswith("rollout #1 canary 10% (forced: --skip-contracts: can-i-deploy said no) "
                                       "[forced past: route 'payments' cannot go to canary"), newest["reason"]
    cutover.strangler("rollout", "abort", "payments", "--reason", "back")  # going back is never gated
    newest = _history(routes)[0]
    assert newest["to_mode"] == "monolith" and "[forced past:" not in newest["reason"]


def test_without_the_skip_a_refused_flip_stops_the_cutover(tmp_path: Path) -> None:
    cutover, routes = _cutover(tmp_path, skip_contracts=False)
    with pytest.raises(CheckFailed, match="cannot go to canary"):
        cutover.start()
    assert all(e["actor"] == "seed" for e in _history(routes))
