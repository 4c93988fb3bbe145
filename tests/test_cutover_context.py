"""`deploy/cutover.py --context catalog`: the cutover walks the route, service, extraction context and
contract providers of the context's description (deploy/cutover_contexts.py), and runs the
context's hooks around the service step and after the route is back on the monolith. The full
catalog rollout under load is the acceptance run's; here the argument path, the plan's split and the
hooks run for real (the CLI, the route store, the monolith's manage.py)."""

from __future__ import annotations

import argparse
import dataclasses
import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.cutover_support import stack
from tests.test_cutover_forced import cutover_module

# db_independent: the route store and the monolith's commands on files of their own; the PostgreSQL pass skips it.
pytestmark = [pytest.mark.db_independent, pytest.mark.integration]

ROOT = Path(__file__).resolve().parents[1]
Cutover, CheckFailed, parse_plan = cutover_module.Cutover, cutover_module.CheckFailed, cutover_module.parse_plan
CONTEXTS, phases = cutover_module.CONTEXTS, cutover_module.phases


def _routes(tmp_path: Path) -> Path:
    routes = tmp_path / "routes.toml"
    routes.write_text(stack.routes_for(ports=stack.DEFAULT_PORTS, store=f"sqlite:///{tmp_path / 'routes.db'}",
                                       record=tmp_path / "verifications.jsonl"))  # empty: can-i-deploy says no
    return routes


def _args(routes: Path, **overrides) -> argparse.Namespace:
    defaults = dict(config=routes, skip_contracts=True, plan=parse_plan("canary:10,service"), window=60.0,
                    min_requests=50, max_error_share=0.01, max_diff_share=0.01, max_p95_ratio=1.5,
                    reconcile_in_proxy=False, internal_secret="a-test-secret")
    return argparse.Namespace(**{**defaults, **overrides})


def _history(routes: Path, route: str) -> list[dict]:
    result = subprocess.run([sys.executable, "-m", "strangler", "--config", str(routes), "history", route, "--json"],
                            cwd=ROOT, capture_output=True, text=True, timeout=60, check=True)
    return json.loads(result.stdout)


def test_every_context_is_a_route_to_its_service_in_each_route_table() -> None:
    from strangler.proxy.config import load_config

    assert set(CONTEXTS) == {"payments", "catalog"}
    assert CONTEXTS["payments"].before_service == CONTEXTS["payments"].after_monolith == ()
    for table in (ROOT / "deploy" / "local" / "routes.toml", ROOT / "deploy" / "compose" / "routes.toml"):
        config = load_config(table, env={})
        for context in CONTEXTS.values():
            assert any(r.name == context.route and r.service == context.service for r in config.table.routes)
            assert config.contracts.providers[context.service]  # what the gate and the cutover ask about
    for svc in stack.SERVICES:  # where `make run` serves it
        assert CONTEXTS[svc.name].service_url == svc.url(stack.DEFAULT_PORTS)


def test_hooks_before_the_service_split_the_plan_at_the_service_step() -> None:
    plan = parse_plan("shadow,canary:10,canary:50,service")
    assert phases(plan, CONTEXTS["payments"]) == [(plan, False)]  # no hooks: one rollout, as before
    hooked = dataclasses.replace(CONTEXTS["catalog"], before_service=(("check",),))
    assert phases(plan, hooked) == [(plan[:3], False), (plan[3:], True)]
    assert phases(plan[3:], hooked) == [(plan[3:], True)]  # straight to the service: the hooks first
    assert phases(plan[:3], hooked) == [(plan[:3], False)]  # never reaches the service: no hooks


def test_context_catalog_rolls_out_the_catalog_route_and_backfills_catalog(tmp_path: Path, monkeypatch, capfd) -> None:
    routes = _routes(tmp_path)
    monkeypatch.setenv("VAR_DIR", str(tmp_path / "var"))  # the monolith the cutover's commands run: a fresh one
    monkeypatch.delenv("DATABASE_URL", raising=False)
    stack.migrate(var=tmp_path / "var", services=[])
    cutover = Cutover(_args(routes, context="catalog", service=None))
    assert (cutover.route, cutover.args.service, cutover.providers) == (
        "catalog", "http://127.0.0.1:8003", ("catalog", "catalog-events"))
    cutover.contracts()  # catalog's pacts are not recorded as passing: no, and --skip-contracts goes on
    cutover.start()  # the rollout's first flip, canary 10%, of the catalog route, past the gate
    newest = _history(routes, "catalog")[0]
    assert (newest["to_mode"], newest["to_weight"], newest["actor"]) == ("canary", 10, "cutover")
    assert "forced: --skip-contracts" in newest["reason"] and "route 'catalog'" in newest["reason"]
    assert all(e["actor"] == "seed" for e in _history(routes, "payments"))  # payments' route untouched
    cutover.strangler("rollout", "abort", "catalog", "--reason", "back")
    # The backfill copies the catalog context (products) to the catalog service's URL (an empty
    # monolith here: nothing to send, so no service needs to answer).
    cutover.args.restart = False
    capfd.readouterr()
    cutover.backfill()
    assert "backfill to http://127.0.0.1:8003 complete: 0 products copied" in capfd.readouterr().out


def test_a_route_table_without_the_contexts_route_is_refused(tmp_path: Path) -> None:
    routes = _routes(tmp_path)
    text = routes.read_text()
    routes.write_text(text[:text.index('[[routes]]\nname = "catalog"')])
    with pytest.raises(CheckFailed, match="no route 'catalog' to the service 'catalog'"):
        Cutover(_args(routes, context="catalog", service=None))


def _marker(path: Path, text: str) -> tuple[str, ...]:
    return ("shell", "-c", f"open({str(path)!r}, 'a').write({text!r} + chr(10))")


def test_before_service_and_after_monolith_run_the_contexts_commands(tmp_path: Path) -> None:
    routes = _routes(tmp_path)
    log = tmp_path / "hooks.log"
    cutover = Cutover(_args(routes, context="catalog", service="http://catalog.test:8003"))
    cutover.context = dataclasses.replace(cutover.context, before_service=(_marker(log, "to service {service}"),),
                                          after_monolith=(_marker(log, "to monolith"),))
    cutover.after_monolith()  # before_service never ran: nothing to undo
    assert not log.exists()
    cutover.before_service()
    cutover.after_monolith()
    cutover.after_monolith()  # undone once
    assert log.read_text().splitlines() == ["to service http://catalog.test:8003", "to monolith"]


def test_a_failing_before_service_sends_the_route_back_and_undoes(tmp_path: Path) -> None:
    routes = _routes(tmp_path)
    log = tmp_path / "hooks.log"
    cutover = Cutover(_args(routes, context="catalog"))
    cutover.strangler("set", "catalog", "--mode", "shadow", "--reason", "compare first")
    cutover.context = dataclasses.replace(
        cutover.context, before_service=(_marker(log, "started"), ("shell", "-c", "raise SystemExit(3)")),
        after_monolith=(_marker(log, "undone"),))
    with pytest.raises(CheckFailed, match="before_service: manage.py shell -c raise SystemExit.3. exited"):
        cutover.before_service()
    newest = _history(routes, "catalog")[0]
    assert (newest["to_mode"], newest["actor"]) == ("monolith", "cutover") and "before_service" in newest["reason"]
    assert log.read_text().splitlines() == ["started", "undone"]
