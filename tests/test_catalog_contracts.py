"""Catalog's contracts gate catalog's flips: the committed pacts of orders' remote catalog client and
the storefront are the catalog service's requirements, `make can-i-deploy SERVICE=catalog` says yes
only when each was verified against both implementations at this code and says no once a catalog
pact changes, and the strangler's flip gate asks the same of a catalog route.

Records are written the way the verification writes them (tests/contracts_support.py); the real
verification of the catalog's pacts (`make contracts`) is driven by the last test, on a patched copy
of the tree, to show it fails naming what broke.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from contracts import participants
from contracts.can_i_deploy import requirements
from contracts.pactfiles import pact_files
from contracts.providers.described import VERIFIED
from strangler.control.flip_gate import contract_guard
from strangler.control.store import FlipRefused
from strangler.proxy.config import parse_config
from strangler.proxy.types import Mode, RouteState
from tests.contracts_support import PACTS, ROOT, patch, record_all, tree_copy

# db_independent: pact files, a record and SQLite files of the verifier's own processes.
pytestmark = pytest.mark.db_independent

CATALOG_PACTS = {(participants.STOREFRONT, participants.CATALOG), (participants.MONOLITH_ORDERS, participants.CATALOG),
                 (participants.MONOLITH_EVENTS, participants.CATALOG_EVENTS)}
DEPLOYED = "c0ffee0c0ffe"  # the providers' version a route table names (a literal: no git needed)


def _can_i_deploy(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PACT_BROKER")}
    return subprocess.run([sys.executable, "-m", "contracts.can_i_deploy", "--service", "catalog", *args],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)


def _changed_pacts(tmp: Path, name: str = "storefront-catalog.json") -> Path:
    """The committed pacts, with one catalog pact's content changed (a new consumer version)."""
    pacts = tmp / "pacts"
    shutil.copytree(PACTS, pacts)
    pact = pacts / name
    pact.write_text(pact.read_text().replace('"interactions"', '"interactions" ', 1))
    return pacts


def test_every_service_is_described_and_each_http_consumer_has_a_caller() -> None:
    assert set(VERIFIED) == set(participants.SERVICES)
    for service, described in VERIFIED.items():
        http = [p for p in pact_files(PACTS, providers=described.providers) if not p.is_message_pact]
        assert http, f"{service}: no HTTP pact"
        assert {p.consumer for p in http} <= set(described.callers), service


def test_the_committed_pacts_are_catalogs_requirements_on_both_implementations(tmp_path: Path) -> None:
    needed = requirements("catalog", pacts=PACTS, record=tmp_path / "none.jsonl", root=ROOT)
    assert {(r.consumer, r.provider) for r in needed} == CATALOG_PACTS
    assert {r.against for r in needed} == set(participants.AGAINST) and len(needed) == 2 * len(CATALOG_PACTS)


def test_can_i_deploy_catalog_says_yes_once_verified_and_no_when_a_catalog_pact_changes(tmp_path: Path) -> None:
    record = tmp_path / "v.jsonl"
    never = _can_i_deploy("--record", str(record))
    assert never.returncode == 1, never.stdout + never.stderr
    assert re.search(r"NO\s+storefront\s+-> catalog\s+against the monolith never verified", never.stdout), never.stdout

    written = record_all(record, service="catalog")
    assert written == len(requirements("catalog", pacts=PACTS, record=record, root=ROOT))
    yes = _can_i_deploy("--record", str(record))
    assert yes.returncode == 0, yes.stdout + yes.stderr
    assert yes.stdout.splitlines()[-1].startswith("yes: catalog (") and f"all {written} pact" in yes.stdout

    changed = _can_i_deploy("--record", str(record), "--pacts", str(_changed_pacts(tmp_path)))
    assert changed.returncode == 1, changed.stdout + changed.stderr
    [row] = [line for line in changed.stdout.splitlines() if line.lstrip().startswith("NO")
             and "against the monolith" in line]
    assert "storefront" in row and "-> catalog" in row and "verified an older pact" in row, changed.stdout
    # Payments is not held back by a catalog pact: its record is its own.
    record_all(record)
    payments = subprocess.run([sys.executable, "-m", "contracts.can_i_deploy", "--service", "payments", "--record",
                               str(record), "--pacts", str(tmp_path / "pacts")], cwd=ROOT, capture_output=True,
                              text=True, timeout=60)
    assert payments.returncode == 0, payments.stdout + payments.stderr


def _catalog_route_gate(record: Path, pacts: Path):
    """A route table with the catalog route and [contracts] naming catalog's providers, as the
    deployed tables do; returns its contract gate and the route."""
    config = parse_config({
        "targets": {"monolith": {"url": "http://127.0.0.1:1"}, "catalog": {"url": "http://127.0.0.1:2"}},
        "routes": [{"name": "catalog", "prefix": "/api/v1/products", "service": "catalog"}],
        "contracts": {"record": str(record), "pacts": str(pacts), "provider_version": DEPLOYED,
                      "providers": {"catalog": list(participants.SERVICES["catalog"])}},
    })
    assert config.contracts is not None
    (route,) = [r for r in config.table.routes if r.name == "catalog"]  # and the default route
    return contract_guard(config.contracts), route


def test_the_flip_gate_holds_the_catalog_route_to_the_same_answer(tmp_path: Path) -> None:
    record = tmp_path / "v.jsonl"
    guard, route = _catalog_route_gate(record, PACTS)
    canary = RouteState(Mode.CANARY, 10)
    with pytest.raises(FlipRefused, match=r"storefront -> catalog against the monolith: never verified"):
        guard(route, RouteState(), canary)
    guard(route, canary, RouteState())  # back to the monolith is never refused

    record_all(record, service="catalog", provider_version_of=lambda req: DEPLOYED)
    guard(route, RouteState(), canary)
    guard(route, canary, RouteState(Mode.SERVICE))

    changed, _ = _catalog_route_gate(record, _changed_pacts(tmp_path))
    with pytest.raises(FlipRefused, match=r"storefront -> catalog against the (monolith|service): verified an older pact"):
        changed(route, RouteState(), canary)


@pytest.mark.integration
def test_a_catalog_service_that_breaks_the_never_reserved_answer_fails_verification(tmp_path: Path) -> None:
    """The saga's compensation relies on ``state: "none"`` for an order that reserved nothing: a
    service answering otherwise fails orders' pact, naming the interaction and the field."""
    root = tree_copy(tmp_path / "tree")
    patch(root, "monolith/catalog/internal_apis.py", '"state": STATE_NONE, "lines": []',
          '"state": "nothing", "lines": []')
    record = tmp_path / "v.jsonl"
    env = {k: v for k, v in os.environ.items() if not k.startswith("PACT_BROKER")} | {"PACT_DO_NOT_TRACK": "true"}
    run = subprocess.run([sys.executable, "-m", "contracts.verify", "--against", "service", "--root", str(root),
                          "--record", str(record), "--service", "catalog", "--only", participants.MONOLITH_ORDERS],
                         cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert run.returncode == 1, run.stdout + run.stderr
    assert "FAIL monolith-orders -> catalog against the service" in run.stdout, run.stdout
    assert "$.state -> Expected 'nothing' (String) to be equal to 'none' (String)" in run.stdout, run.stdout
    [line] = [json.loads(raw) for raw in record.read_text().splitlines()]
    assert (line["service"], line["provider"], line["result"]) == ("catalog", "catalog", "failed")
    assert "a release for an order that never reserved stock" in line["summary"]


@pytest.mark.integration
def test_a_renamed_snapshot_key_fails_the_event_pact_naming_it(tmp_path: Path) -> None:
    """A catalog that publishes its product snapshot under another key (its own consumer renamed
    alike) breaks the monolith deployed beside it, which reads ``product``: the message pact fails."""
    root = tree_copy(tmp_path / "tree")
    patch(root, "monolith/catalog/extraction.py", 'snapshot_row="product"', 'snapshot_row="item"')
    patch(root, "monolith/catalog/events.py", "    product: dict\n", "    item: dict\n")
    record = tmp_path / "v.jsonl"
    env = {k: v for k, v in os.environ.items() if not k.startswith("PACT_BROKER")} | {"PACT_DO_NOT_TRACK": "true"}
    run = subprocess.run([sys.executable, "-m", "contracts.verify", "--against", "service", "--root", str(root),
                          "--record", str(record), "--provider", participants.CATALOG_EVENTS],
                         cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert run.returncode == 1, run.stdout + run.stderr
    assert "FAIL monolith-event-consumers -> catalog-events against the service" in run.stdout, run.stdout
    assert "$.payload -> Actual map is missing the following keys: product" in run.stdout, run.stdout
    [line] = [json.loads(raw) for raw in record.read_text().splitlines()]
    assert (line["service"], line["provider"], line["result"]) == ("catalog", "catalog-events", "failed")
