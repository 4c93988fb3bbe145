"""Contract-gated flips: the record, the status it gives, the store guard and the real CLI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from strangler.config import ConfigError, parse_config
from strangler.contracts import (
    FAILED,
    MISSING,
    PASSED,
    ContractRecordError,
    Verification,
    contract_guard,
    contract_status,
    verification_append,
    verifications_read,
)
from strangler.store import FlipRefused, open_store
from strangler.tests.control_support import cli, config_text
from strangler.types import Mode, RouteState


def verification(result: str, *, consumer: str = "storefront", against: str = "service", at: str = "2026-11-21T10:00:00+00:00",
                 service: str = "orders", provider: str = "orders") -> Verification:
    return Verification(at=at, service=service, consumer=consumer, consumer_version="c1", provider=provider,
                        provider_version="p1", against=against, result=result, summary="3 interactions")


def table():
    return parse_config({
        "targets": {"monolith": {"url": "http://127.0.0.1:1"}, "orders": {"url": "http://127.0.0.1:2"}},
        "routes": [{"name": "orders", "prefix": "/api/orders", "service": "orders"}],
    }).table


def test_the_record_round_trips_and_an_absent_file_is_empty(tmp_path: Path) -> None:
    record = tmp_path / "deep" / "verifications.jsonl"
    assert verifications_read(record) == []
    first, second = verification(PASSED), verification(FAILED, consumer="orders-client")
    verification_append(record, first)
    verification_append(record, second)
    assert verifications_read(record) == [first, second]
    assert json.loads(record.read_text().splitlines()[0])["result"] == "passed"


@pytest.mark.parametrize(("line", "message"), [
    ("not json", "not JSON"),
    ('["a"]', "expected an object"),
    ('{"at": "x", "service": "orders"}', "missing or empty consumer"),
    (json.dumps(verification(PASSED).as_dict() | {"result": "green"}), "result must be"),
])
def test_a_damaged_record_is_an_error_naming_the_line(tmp_path: Path, line: str, message: str) -> None:
    record = tmp_path / "v.jsonl"
    record.write_text(json.dumps(verification(PASSED).as_dict()) + "\n" + line + "\n")
    with pytest.raises(ContractRecordError, match=message) as info:
        verifications_read(record)
    assert f"{record}:2" in str(info.value)


def test_status_is_the_latest_verification_of_each_pact_and_target() -> None:
    assert contract_status([], "orders").state == MISSING
    assert contract_status([verification(PASSED, service="billing")], "orders").state == MISSING
    history = [verification(FAILED, at="t1"), verification(PASSED, at="t2"),  # fixed since
               verification(PASSED, against="monolith", at="t1")]
    status = contract_status(history, "orders")
    assert status.state == PASSED and len(status.latest) == 2
    broken = contract_status([*history, verification(FAILED, against="monolith", at="t3")], "orders")
    assert broken.state == FAILED
    assert [v.against for v in broken.failing] == ["monolith"]
    assert "storefront -> orders against the monolith (t3)" in broken.describe()


@pytest.mark.parametrize("mode", [Mode.CANARY, Mode.SERVICE])
def test_the_guard_refuses_traffic_to_a_service_without_passing_contracts(tmp_path: Path, mode: Mode) -> None:
    record = tmp_path / "v.jsonl"
    route = table().routes[0]
    guard = contract_guard(record)
    new = RouteState(mode, 10 if mode is Mode.CANARY else 0)
    with pytest.raises(FlipRefused, match="no contract verification recorded for service 'orders'"):
        guard(route, RouteState(), new)
    verification_append(record, verification(FAILED))
    with pytest.raises(FlipRefused, match="contract verification failing"):
        guard(route, RouteState(), new)
    verification_append(record, verification(PASSED))
    guard(route, RouteState(), new)  # passes now


def test_going_back_or_shadowing_is_never_gated(tmp_path: Path) -> None:
    guard = contract_guard(tmp_path / "absent.jsonl")
    route = table().routes[0]
    for mode in (Mode.MONOLITH, Mode.SHADOW):
        guard(route, RouteState(Mode.SERVICE), RouteState(mode))


def test_forcing_past_the_gate_keeps_the_refusal_in_the_audit(tmp_path: Path) -> None:
    with open_store(f"sqlite:///{tmp_path}/r.db", table(), guard=contract_guard(tmp_path / "v.jsonl")) as store:
        with pytest.raises(FlipRefused):
            store.set_state("orders", RouteState(Mode.SERVICE), actor="ann", reason="go")
        assert store.states().get("orders", RouteState()).mode is Mode.MONOLITH
        entry = store.set_state("orders", RouteState(Mode.SERVICE), actor="ann", reason="incident 42", force=True)
        assert entry.reason.startswith("incident 42 [forced past: route 'orders' cannot go to service")
        assert store.states()["orders"].mode is Mode.SERVICE


def test_the_contracts_table_accepts_only_a_record_path() -> None:
    targets = {"monolith": {"url": "http://127.0.0.1:1"}}
    assert parse_config({"targets": targets, "contracts": {"record": "c/v.jsonl"}}).contracts_record == "c/v.jsonl"
    assert parse_config({"targets": targets}).contracts_record is None
    with pytest.raises(ConfigError, match=r"\[contracts\]: unknown key"):
        parse_config({"targets": targets, "contracts": {"recrod": "x"}})


@pytest.mark.integration
def test_cli_flip_is_refused_while_failing_and_allowed_once_passing(tmp_path: Path) -> None:
    record = tmp_path / "verifications.jsonl"
    config = tmp_path / "routes.toml"
    config.write_text(config_text(store_url=f"sqlite:///{tmp_path}/routes.db") + f'\n[contracts]\nrecord = "{record}"\n')
    verification_append(record, verification(FAILED))

    refused = cli(config, "set", "orders", "--mode", "service", "--reason", "cut over")
    assert refused.returncode != 0
    assert "contract verification failing for service 'orders'" in refused.stderr
    assert "--force" in refused.stderr

    forced = cli(config, "set", "orders", "--mode", "canary", "--weight", "5", "--reason", "hotfix", "--force")
    assert forced.returncode == 0, forced.stderr
    history = cli(config, "history", "--json")
    assert "[forced past: route 'orders' cannot go to canary" in history.stdout

    verification_append(record, verification(PASSED))
    allowed = cli(config, "set", "orders", "--mode", "service", "--reason", "contracts green")
    assert allowed.returncode == 0, allowed.stderr
    routes = json.loads(cli(config, "routes", "--json").stdout)["routes"]
    assert {r["route"]: r["mode"] for r in routes}["orders"] == "service"
