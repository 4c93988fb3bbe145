"""The report on this repository's monolith: the contexts come out as they are (no cross-context
foreign key, no import of another context's internals), payments and catalog are ready to cut with
their remaining edges listed, the JSON matches its schema and the contracts hold under import-linter."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from strangler.django.coupling import analyse, report_json, report_text

from .support import ROOT, validate

HARD = {"fk", "o2o", "m2m", "raw_sql", "signal", "model_use", "import", "transaction", "query"}


@pytest.fixture(scope="module")
def report() -> dict:
    return analyse.build(shared=["kernel"], partition="payments,catalog", root=ROOT)


def test_contexts_come_out_as_they_are(report):
    assert {a["label"] for a in report["apps"]} == {"kernel", "users", "catalog", "orders", "payments",
                                                    "notifications"}
    assert [e for e in report["edges"] if e["kind"] in HARD] == []
    assert all(c["ready"] for c in report["candidates"])
    assert report["shared"] == ["kernel"]


def test_payments_and_catalog_remaining_edges_are_listed(report):
    by_app = {c["app"]: c for c in report["candidates"]}
    assert by_app["catalog"]["kinds"]["interface_import"] == 1
    edges = {(e["kind"], e["source"], e["target"], e["file"], e["line"]) for e in report["edges"]}
    services = (ROOT / "monolith/orders/services.py").read_text().splitlines()
    line = services.index("from monolith.catalog import interface as catalog") + 1
    assert ("interface_import", "orders", "catalog", "monolith/orders/services.py", line) in edges
    line = services.index("from monolith.payments import interface as payments") + 1
    assert ("interface_import", "orders", "payments", "monolith/orders/services.py", line) in edges
    assert by_app["payments"]["kinds"]["interface_import"] >= 5
    assert report["partition"]["services"] == [["payments"], ["catalog"]]
    metrics = report["partition"]["metrics"]
    assert 0 < metrics["icp"] < 1 and metrics["partitions"] == 3 and metrics["icp_basis"] == "static"


def test_json_matches_its_schema_and_text_names_every_candidate(report):
    validate(report, report_json.schema())
    text = report_text.render(report)
    for c in report["candidates"]:
        assert f"{c['app']}: " in text
    assert "[[tool.importlinter.contracts]]" in text


def test_the_contracts_hold_on_the_monolith(report, tmp_path: Path):
    config = tmp_path / "contracts.toml"
    config.write_text(report["contracts"])
    lint = Path(sys.executable).with_name("lint-imports")
    done = subprocess.run([str(lint), "--config", str(config), "--no-cache"], cwd=ROOT, capture_output=True,
                          text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stdout[-3000:]
    assert "4 kept, 0 broken" in done.stdout


def test_the_kernel_is_detected_as_shared_when_not_named():
    report = analyse.build(root=ROOT)
    assert report["shared"] == ["kernel"]
    assert [c["app"] for c in report["candidates"]][:2] == ["users", "catalog"]
    assert all(c["ready"] for c in report["candidates"])
    plain = analyse.build(shared=["none"], root=ROOT)
    assert plain["shared"] == [] and not all(c["ready"] for c in plain["candidates"])


def test_a_recorded_test_run_of_the_monolith_crosses_no_context(tmp_path: Path, monkeypatch):
    """The checkout and catalog API tests under the query recorder: queries and transactions stay
    inside their context (the outbox, in the shared kernel, rides in the same transaction)."""
    from strangler.django.coupling import dynamic

    # The recorded pytest on SQLite: on this run's PostgreSQL it would create and drop the very test
    # database this session runs on (pytest-django names it after DATABASE_URL's).
    monkeypatch.delenv("DATABASE_URL", raising=False)

    tests = [str(ROOT / "monolith/orders/tests/test_checkout.py"), str(ROOT / "monolith/catalog/tests/test_api.py")]
    command = f"{sys.executable} -m pytest -q -p no:cacheprovider --rootdir {ROOT} {' '.join(tests)}"

    def run(project):
        return dynamic.analyse_records(project, dynamic.run_recorded(command, lambda m: None)).results()

    report = analyse.build(root=ROOT, dynamic=run)
    assert [e for e in report["edges"] if e["kind"] in ("query", "transaction")] == []
    assert report["dynamic"]["requests"] >= 1 and report["dynamic"]["transactions"] >= 1
    assert report["dynamic"]["transactions_spanning_apps"] == 0
    assert report["partition"]["metrics"]["icp_basis"] == "runtime"
    assert report["partition"]["metrics"]["icp"] == 0.0
