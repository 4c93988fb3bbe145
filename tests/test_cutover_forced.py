"""`deploy/cutover.py --skip-contracts`: when can-i-deploy says no, the cutover's flips go past the
strangler's contract gate, and the audit trail says so (forced, naming the skip)."""

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
Cutover, Step, CheckFailed = cutover_module.Cutover, cutover_module.Step, cutover_module.CheckFailed


def _cutover(tmp_path: Path, *, skip_contracts: bool):
    routes = tmp_path / "routes.toml"
    routes.write_text(stack.routes_for(ports=stack.DEFAULT_PORTS, store=f"sqlite:///{tmp_path / 'routes.db'}",
                                       record=tmp_path / "verifications.jsonl"))  # empty: can-i-deploy says no
    args = argparse.Namespace(config=routes, admin="127.0.0.1:1", admin_token="unused", skip_contracts=skip_contracts)
    return Cutover(args), routes


def _history(routes: Path) -> list[dict]:
    result = subprocess.run([sys.executable, "-m", "strangler", "--config", str(routes), "history", "payments",
                             "--json"], cwd=ROOT, capture_output=True, text=True, timeout=60, check=True)
    return json.loads(result.stdout)


def test_skip_contracts_flips_past_the_gate_and_the_audit_says_forced(tmp_path: Path) -> None:
    cutover, routes = _cutover(tmp_path, skip_contracts=True)
    cutover.contracts()  # says no, and goes on
    cutover.flip(Step("canary", 10), "cutover step: canary 10%")
    newest = _history(routes)[0]
    assert (newest["to_mode"], newest["to_weight"]) == ("canary", 10)
    assert newest["reason"].startswith("cutover step: canary 10% (--skip-contracts: can-i-deploy said no) "
                                       "[forced past: route 'payments' cannot go to canary"), newest["reason"]
    cutover.flip(Step("monolith"), "back")  # going back is never gated, so never forced
    assert "[forced past:" not in _history(routes)[0]["reason"]


def test_without_the_skip_a_refused_flip_stops_the_cutover(tmp_path: Path) -> None:
    cutover, routes = _cutover(tmp_path, skip_contracts=False)
    with pytest.raises(CheckFailed, match="cannot go to canary"):
        cutover.flip(Step("canary", 10), "cutover step: canary 10%")
    assert all(e["actor"] == "seed" for e in _history(routes))
