"""Contract-gated flips: the record, the one decision can-i-deploy and the gate share, the store
guard, the [contracts] table and the real CLI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from strangler.control.deploy_decision import Pact, deploy_decision
from strangler.control.flip_gate import (
    ProviderVersionError,
    contract_guard,
    contracts_report,
    pacts_read,
    provider_version,
)
from strangler.control.store import FlipRefused, open_store
from strangler.control.verifications import (
    FAILED,
    PASSED,
    ContractRecordError,
    Verification,
    verification_append,
    verifications_read,
)
from strangler.proxy.config import ConfigError, parse_config
from strangler.proxy.types import Mode, RouteState
from strangler.tests.control_support import PROVIDER_VERSION, cli, config_text, contracts_text, pact_write

PACTS = (Pact("storefront", "orders", "c1"), Pact("orders-client", "orders", "c2"),
         Pact("orders-events-consumer", "orders-events", "c3"))
PROVIDERS = ("orders", "orders-events")


def verification(result: str, *, consumer: str = "storefront", against: str = "service", at: str = "t1",
                 service: str = "orders", provider: str = "orders", consumer_version: str = "c1",
                 provider_version: str = "p1") -> Verification:
    return Verification(at=at, service=service, consumer=consumer, consumer_version=consumer_version,
                        provider=provider, provider_version=provider_version, against=against, result=result,
                        summary="3 interactions")


def everything(result: str = PASSED, **overrides: str) -> list[Verification]:
    """A verification of every pact in PACTS against both implementations."""
    return [verification(result, **({"consumer": p.consumer, "provider": p.provider, "consumer_version": p.version,
                                     "against": against} | overrides))
            for p in PACTS for against in ("monolith", "service")]


def decide(verifications: list[Verification], pacts: tuple[Pact, ...] = PACTS, version: str = "p1"):
    return deploy_decision(verifications, service="orders", providers=PROVIDERS, pacts=pacts,
                           provider_versions=dict.fromkeys(PROVIDERS, version))


def table(contracts: dict | None = None):
    data = {
        "targets": {"monolith": {"url": "http://127.0.0.1:1"}, "orders": {"url": "http://127.0.0.1:2"}},
        "routes": [{"name": "orders", "prefix": "/api/orders", "service": "orders"}],
    }
    return parse_config(data | ({"contracts": contracts} if contracts else {}))


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


def test_yes_only_for_every_pact_at_its_version_against_both_at_this_code() -> None:
    yes = decide(everything())
    assert yes.ok and yes.state == PASSED and len(yes.requirements) == 6
    assert "all 6 pact/implementation pairs at provider version p1" in yes.describe()
    # Another service's lines never count.
    assert decide(everything(service="billing")).state == "missing"


@pytest.mark.parametrize(("record", "missing"), [
    ([v for v in everything() if v.against == "service"], "storefront -> orders against the monolith: never verified"),
    (everything(provider_version="p0"), "storefront -> orders against the service: verified older code (p0)"),
    (everything(consumer_version="c0"), "storefront -> orders against the service: verified an older pact (c0)"),
    ([v for v in everything() if v.provider != "orders-events"],
     "orders-events-consumer -> orders-events against the monolith: never verified"),
    ([*everything(), verification(FAILED, against="monolith", at="t9")], "storefront -> orders against the monolith: FAILED at t9"),
], ids=["service only", "older code", "older pact", "a subset of the pacts", "failed since"])
def test_no_names_each_pact_and_implementation_missing(record: list[Verification], missing: str) -> None:
    no = decide(record)
    assert not no.ok and no.state == "failed"
    assert no.describe().startswith("contract verification failing for service 'orders' (")
    assert missing in no.describe()


def test_a_later_pass_fixes_a_failure_and_no_pact_at_all_is_no() -> None:
    assert decide([verification(FAILED, at="t0", against=a) for a in ("monolith", "service")] + everything()).ok
    nothing = decide(everything(), pacts=(Pact("storefront", "billing", "c9"),))
    assert not nothing.ok and "no pact names a provider of service 'orders'" in nothing.describe()
    assert decide([]).describe().startswith("no contract verification recorded for service 'orders'")
    with pytest.raises(ValueError, match="no current version given for provider 'orders'"):
        deploy_decision([], service="orders", providers=PROVIDERS, pacts=PACTS, provider_versions={})


def _contracts(tmp_path: Path, record: Path):
    """A pact directory for 'orders' and the [contracts] that gates on it; returns the config's contracts
    and the current consumer versions by consumer."""
    versions = {c: pact_write(tmp_path / "pacts", c, "orders") for c in ("storefront", "orders-client")}
    contracts = table({"record": str(record), "pacts": str(tmp_path / "pacts"), "provider_version": PROVIDER_VERSION,
                       "providers": {"orders": ["orders"]}}).contracts
    return contracts, versions


def _verified(record: Path, versions: dict[str, str], result: str = PASSED, against=("monolith", "service")) -> None:
    for consumer, version in versions.items():
        for side in against:
            verification_append(record, verification(result, consumer=consumer, consumer_version=version, against=side))


@pytest.mark.parametrize("mode", [Mode.CANARY, Mode.SERVICE])
def test_the_guard_refuses_traffic_to_a_service_without_every_pact_verified(tmp_path: Path, mode: Mode) -> None:
    record = tmp_path / "v.jsonl"
    contracts, versions = _contracts(tmp_path, record)
    route = table().table.routes[0]
    guard = contract_guard(contracts)
    new = RouteState(mode, 10 if mode is Mode.CANARY else 0)
    with pytest.raises(FlipRefused, match="no contract verification recorded for service 'orders'"):
        guard(route, RouteState(), new)
    _verified(record, versions, against=("service",))
    with pytest.raises(FlipRefused, match="orders-client -> orders against the monolith: never verified"):
        guard(route, RouteState(), new)
    _verified(record, versions)
    guard(route, RouteState(), new)  # passes now
    pact_write(tmp_path / "pacts", "mobile-app", "orders")  # a new consumer's pact: not verified yet
    with pytest.raises(FlipRefused, match="mobile-app -> orders against the monolith: never verified"):
        guard(route, RouteState(), new)


def test_the_guard_refuses_when_it_cannot_tell(tmp_path: Path) -> None:
    record = tmp_path / "v.jsonl"
    contracts, _ = _contracts(tmp_path, record)
    route = table().table.routes[0]
    (tmp_path / "pacts" / "broken.json").write_text("{")
    with pytest.raises(FlipRefused, match=r"cannot tell whether the contracts of 'orders' pass: .*broken.json"):
        contract_guard(contracts)(route, RouteState(), RouteState(Mode.SERVICE))
    assert contracts_report(contracts, ["orders"])["orders"]["state"] == "error"


def test_going_back_or_shadowing_is_never_gated(tmp_path: Path) -> None:
    contracts, _ = _contracts(tmp_path, tmp_path / "absent.jsonl")
    guard = contract_guard(contracts)
    route = table().table.routes[0]
    for mode in (Mode.MONOLITH, Mode.SHADOW):
        guard(route, RouteState(Mode.SERVICE), RouteState(mode))


def test_the_report_is_the_gate_s_decision(tmp_path: Path) -> None:
    record = tmp_path / "v.jsonl"
    contracts, versions = _contracts(tmp_path, record)
    _verified(record, versions, against=("service",))
    report = contracts_report(contracts, ["orders"])["orders"]
    assert report["state"] == "failed" and "against the monolith: never verified" in report["message"]
    assert len(report["latest"]) == 2
    assert contracts_report(None, ["orders"])["orders"]["state"] == "not gated"


def test_pact_files_are_read_with_their_content_hash(tmp_path: Path) -> None:
    version = pact_write(tmp_path, "storefront", "orders")
    assert pacts_read(tmp_path) == [Pact("storefront", "orders", version)]
    with pytest.raises(ValueError, match="does not exist"):
        pacts_read(tmp_path / "absent")


def test_forcing_past_the_gate_keeps_the_refusal_in_the_audit(tmp_path: Path) -> None:
    contracts, _ = _contracts(tmp_path, tmp_path / "v.jsonl")
    with open_store(f"sqlite:///{tmp_path}/r.db", table().table, guard=contract_guard(contracts)) as store:
        with pytest.raises(FlipRefused):
            store.set_state("orders", RouteState(Mode.SERVICE), actor="ann", reason="go")
        assert store.states().get("orders", RouteState()).mode is Mode.MONOLITH
        entry = store.set_state("orders", RouteState(Mode.SERVICE), actor="ann", reason="incident 42", force=True)
        assert entry.reason.startswith("incident 42 [forced past: route 'orders' cannot go to service")
        assert store.states()["orders"].mode is Mode.SERVICE


GOOD = {"record": "c/v.jsonl", "pacts": "c/pacts", "source": ".", "providers": {"orders": ["orders", "orders-events"]}}
FROM_ENV = {k: v for k, v in GOOD.items() if k != "source"} | {"provider_version_env": "ORDERS_VERSION"}


def test_the_contracts_table_names_everything_the_gate_asks() -> None:
    contracts = table(GOOD).contracts
    assert (contracts.record, contracts.pacts, contracts.source, contracts.provider_version) == (
        "c/v.jsonl", "c/pacts", ".", None)
    assert contracts.providers == {"orders": ("orders", "orders-events")} and table(GOOD).contracts_record == "c/v.jsonl"
    assert table().contracts is None


@pytest.mark.parametrize(("contracts", "message"), [
    ({"record": "c/v.jsonl"}, r"\[contracts\]: missing pacts, providers: the gate needs"),
    (GOOD | {"recrod": "x"}, r"\[contracts\]: unknown key"),
    (GOOD | {"provider_version": "abc"}, "exactly one of source .* and provider_version"),
    ({k: v for k, v in GOOD.items() if k != "source"}, "exactly one of source"),
    (GOOD | {"providers": {"billing": ["billing"]}}, r"no entry for service 'orders' \(route 'orders'\)"),
    (GOOD | {"providers": {"orders": []}}, "expected a non-empty list of provider names"),
    (GOOD | {"pacts": " "}, "must not be empty"),
    (GOOD | {"provider_version_env": "PROVIDER_VERSION"}, "exactly one of source .*, provider_version .* and "
                                                         "provider_version_env"),
    (FROM_ENV | {"provider_version": "p1"}, "exactly one of source"),
    (FROM_ENV | {"provider_version_env": ""}, "provider_version_env: expected the name of an environment variable"),
    (FROM_ENV | {"provider_version_env": " "}, "provider_version_env: expected the name of an environment variable"),
    (FROM_ENV | {"provider_version_env": "PROVIDER-VERSION"}, r"got 'PROVIDER-VERSION'"),
    (FROM_ENV | {"provider_version_env": 7}, r"\[contracts\] provider_version_env"),
])
def test_a_contracts_table_the_gate_cannot_ask_from_is_refused(contracts: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        table(contracts)


def test_the_version_may_come_from_a_variable_read_at_each_flip(tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """A container has no work tree: the deployed version is in a variable, read when the gate
    decides; unset or empty, the gate refuses naming it, and so does the dashboard's report."""
    monkeypatch.delenv("ORDERS_VERSION", raising=False)
    contracts = table(FROM_ENV).contracts  # loads with the variable unset
    assert (contracts.source, contracts.provider_version, contracts.provider_version_env) == (
        None, None, "ORDERS_VERSION")
    for env in ({}, {"ORDERS_VERSION": " "}):
        with pytest.raises(ProviderVersionError, match="ORDERS_VERSION is unset or empty"):
            provider_version(contracts, env)
    commit = "0123456789abcdef0123456789abcdef01234567"
    assert provider_version(contracts, {"ORDERS_VERSION": commit}) == commit[:12]  # as the contract runs record it
    assert provider_version(contracts, {"ORDERS_VERSION": "v1.2+build.7"}) == "v1.2+build.7"

    record = tmp_path / "v.jsonl"
    contracts = table(FROM_ENV | {"record": str(record), "pacts": str(tmp_path / "pacts")}).contracts
    versions = {"storefront": pact_write(tmp_path / "pacts", "storefront", "orders")}
    _verified(record, versions)  # at PROVIDER_VERSION
    route, guard = table().table.routes[0], contract_guard(contracts)
    with pytest.raises(FlipRefused, match="cannot tell whether the contracts of 'orders' pass: ORDERS_VERSION is "
                                          "unset or empty"):
        guard(route, RouteState(), RouteState(Mode.SERVICE))
    report = contracts_report(contracts, ["orders"])["orders"]
    assert report["state"] == "error" and "ORDERS_VERSION" in report["message"]
    guard(route, RouteState(Mode.SERVICE), RouteState(Mode.MONOLITH))  # going back never asks
    monkeypatch.setenv("ORDERS_VERSION", PROVIDER_VERSION)
    guard(route, RouteState(), RouteState(Mode.SERVICE))  # the same guard, the variable set since
    assert contracts_report(contracts, ["orders"])["orders"]["state"] == PASSED


@pytest.mark.integration
def test_cli_flip_is_refused_while_failing_and_allowed_once_passing(tmp_path: Path) -> None:
    record = tmp_path / "verifications.jsonl"
    versions = {c: pact_write(tmp_path / "pacts", c, "orders") for c in ("storefront", "orders-client")}
    config = tmp_path / "routes.toml"
    config.write_text(config_text(store_url=f"sqlite:///{tmp_path}/routes.db")
                      + contracts_text(record, tmp_path / "pacts", {"orders": ["orders"]}))
    _verified(record, versions, FAILED)

    refused = cli(config, "set", "orders", "--mode", "service", "--reason", "cut over")
    assert refused.returncode != 0
    assert "contract verification failing for service 'orders'" in refused.stderr
    assert "storefront -> orders against the monolith: FAILED at t1" in refused.stderr
    assert "--force" in refused.stderr

    forced = cli(config, "set", "orders", "--mode", "canary", "--weight", "5", "--reason", "hotfix", "--force")
    assert forced.returncode == 0, forced.stderr
    history = cli(config, "history", "--json")
    assert "[forced past: route 'orders' cannot go to canary" in history.stdout

    _verified(record, versions)
    allowed = cli(config, "set", "orders", "--mode", "service", "--reason", "contracts green")
    assert allowed.returncode == 0, allowed.stderr
    routes = json.loads(cli(config, "routes", "--json").stdout)["routes"]
    assert {r["route"]: r["mode"] for r in routes}["orders"] == "service"


@pytest.mark.integration
def test_a_signed_override_past_the_gate_needs_force_and_is_audited_as_forced(tmp_path: Path) -> None:
    """An override to the service sends its bearer's requests there whatever the route's mode: the
    gate is asked as for a flip to service, and going past it is written in the audit trail."""
    record = tmp_path / "verifications.jsonl"
    versions = {"storefront": pact_write(tmp_path / "pacts", "storefront", "orders")}
    config = tmp_path / "routes.toml"
    config.write_text(config_text(store_url=f"sqlite:///{tmp_path}/routes.db")
                      + contracts_text(record, tmp_path / "pacts", {"orders": ["orders"]}))
    _verified(record, versions, against=("service",))
    secret = {"STRANGLER_OVERRIDE_SECRET": "s3cret"}

    refused = cli(config, "override", "orders", "--side", "service", **secret)
    assert refused.returncode == 2 and not refused.stdout, refused.stdout
    assert "storefront -> orders against the monolith: never verified" in refused.stderr, refused.stderr
    assert "--force" in refused.stderr

    forced = cli(config, "override", "orders", "--side", "service", "--ttl", "600", "--force",
                 "--reason", "reproduce incident 42", **secret)
    assert forced.returncode == 0, forced.stderr
    assert forced.stdout.startswith("X-Strangler-Override: ")
    [entry] = [e for e in json.loads(cli(config, "history", "orders", "--json").stdout) if e["actor"] != "seed"]
    assert entry["reason"].startswith("signed override to service for 600 s: reproduce incident 42 "
                                      "[forced past: route 'orders' cannot go to service")
    assert (entry["from_mode"], entry["to_mode"]) == ("monolith", "monolith")  # the route itself did not move
