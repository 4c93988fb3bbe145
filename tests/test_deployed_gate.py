"""The deployed route tables gate their flips as the local one does.

The compose table (deploy/compose/routes.toml) and the Kubernetes one (the ConfigMap
strangler-routes in deploy/k8s/config.yaml) are parsed as the proxy parses them, with only the
two container paths of their ``[contracts]`` moved to a scratch folder laid out like the mount:
the real pact files of contracts/pacts and a record written here. The guard is built as
strangler/control/app.py builds it. The providers' version comes from PROVIDER_VERSION, read at
each flip: unset, a flip to canary is refused naming it; with a record short of a pass, refused
naming what is missing; with every pact passed against both implementations at that version, the
contract gate lets it through (on to the sync gate, which asks a monolith that does not run here).
Going back to the monolith is always allowed.
"""

from __future__ import annotations

import shutil
import tomllib
from collections.abc import Callable
from pathlib import Path, PurePosixPath
from typing import Any

import pytest
import yaml

from strangler.control.flip_gate import config_guard
from strangler.control.source_version import SHORT
from strangler.control.store import FlipRefused, Guard
from strangler.control.sync_gate import sync_guard
from strangler.proxy.config import ProxyConfig, parse_config
from strangler.proxy.types import Mode, Route, RouteState
from tests.contracts_support import PACTS, record_all

# db_independent: route tables, pact files and a record on disk; the PostgreSQL pass skips it.
pytestmark = pytest.mark.db_independent

ROOT = Path(__file__).resolve().parents[1]
MOUNT = PurePosixPath("/etc/strangler/contracts")  # where both deployments mount the pacts and the record
VARIABLE = "PROVIDER_VERSION"
DEPLOYED = "0123456789abcdef0123456789abcdef01234567"  # `git rev-parse HEAD` of the images' commit
RECORDED = DEPLOYED[:SHORT]  # what `make contracts` recorded for that commit
SECRETS = {"INTERNAL_AUTH_SECRET": "deployed-gate-secret", "STRANGLER_ADMIN_TOKEN": "token"}


def _compose() -> str:
    return (ROOT / "deploy" / "compose" / "routes.toml").read_text()


def _k8s() -> str:
    docs = yaml.safe_load_all((ROOT / "deploy" / "k8s" / "config.yaml").read_text())
    (routes,) = [d for d in docs if d and d["metadata"]["name"] == "strangler-routes"]
    return routes["data"]["routes.toml"]


TABLES: dict[str, Callable[[], str]] = {"compose": _compose, "k8s": _k8s}


def _local(scratch: Path, container_path: str) -> Path:
    """The scratch path standing for a container path under the contracts mount."""
    return scratch / PurePosixPath(container_path).relative_to(MOUNT)


def _deployed(text: str, scratch: Path) -> tuple[ProxyConfig, Path, Path]:
    """The table parsed as the proxy does, its record and pacts moved under ``scratch`` (the pact
    files copied there); returns it, the record and the pact folder."""
    data: dict[str, Any] = tomllib.loads(text)
    contracts = data["contracts"]
    record, pacts = _local(scratch, contracts["record"]), _local(scratch, contracts["pacts"])
    pacts.mkdir(parents=True, exist_ok=True)
    for pact in PACTS.glob("*.json"):
        shutil.copy(pact, pacts / pact.name)
    contracts["record"], contracts["pacts"] = str(record), str(pacts)
    return parse_config(data, env=SECRETS), record, pacts


def _app_guard(config: ProxyConfig) -> Guard:
    guard = config_guard(config.contracts, sync_guard(config))  # as strangler/control/app.py serves it
    assert guard is not None
    return guard


def _payments(config: ProxyConfig) -> Route:
    (route,) = [r for r in config.table.routes if r.service == "payments"]
    return route


CANARY = RouteState(Mode.CANARY, 10)


@pytest.mark.parametrize("table", sorted(TABLES))
def test_the_deployed_table_reads_the_version_from_the_environment(table: str, tmp_path: Path) -> None:
    config, record, pacts = _deployed(TABLES[table](), tmp_path)
    assert config.contracts is not None
    assert config.contracts.provider_version_env == VARIABLE
    assert (config.contracts.source, config.contracts.provider_version) == (None, None)
    assert config.contracts.providers == {"payments": ("payments", "payments-events"),
                                          "catalog": ("catalog", "catalog-events")}
    assert sorted(p.name for p in pacts.glob("*.json")) == sorted(p.name for p in PACTS.glob("*.json"))


@pytest.mark.parametrize("table", sorted(TABLES))
def test_the_catalog_route_needs_catalogs_own_passes(table: str, tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """Every payments pact passing at the deployed version opens payments, never catalog."""
    config, record, pacts = _deployed(TABLES[table](), tmp_path)
    monkeypatch.setenv(VARIABLE, DEPLOYED)
    assert record_all(record, pacts=pacts, provider_version_of=lambda req: RECORDED) == 6
    gate = config_guard(config.contracts)
    gate(_payments(config), RouteState(), CANARY)  # says yes
    catalog = next(r for r in config.table.routes if r.name == "catalog")
    with pytest.raises(FlipRefused, match=r"cannot go to canary: .*service 'catalog'"):
        gate(catalog, RouteState(), CANARY)


@pytest.mark.parametrize("table", sorted(TABLES))
def test_a_deployed_proxy_refuses_an_unverified_flip(table: str, tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    config, record, pacts = _deployed(TABLES[table](), tmp_path)
    guard, route = _app_guard(config), _payments(config)
    monkeypatch.delenv(VARIABLE, raising=False)
    assert record_all(record, pacts=pacts, provider_version_of=lambda req: RECORDED) == 6

    # Everything verified, but which code is deployed is unknown: refused, naming the variable.
    with pytest.raises(FlipRefused, match=f"cannot tell whether the contracts of 'payments' pass: {VARIABLE} is "
                                          "unset or empty"):
        guard(route, RouteState(), CANARY)
    monkeypatch.setenv(VARIABLE, "")
    with pytest.raises(FlipRefused, match=f"{VARIABLE} is unset or empty"):
        guard(route, RouteState(), CANARY)

    # Read at the flip, not at load: the same guard now asks the record at that version.
    monkeypatch.setenv(VARIABLE, DEPLOYED)
    config_guard(config.contracts)(route, RouteState(), CANARY)  # the contract gate says yes
    with pytest.raises(FlipRefused, match="the monolith's kit status did not answer"):
        guard(route, RouteState(), CANARY)  # and hands over to the sync gate: no monolith runs here

    # Another commit deployed: the passes are for older code.
    monkeypatch.setenv(VARIABLE, "fedcba9876543210fedcba9876543210fedcba98")
    with pytest.raises(FlipRefused, match=f"verified older code \\({RECORDED}\\)"):
        guard(route, RouteState(), CANARY)


@pytest.mark.parametrize("table", sorted(TABLES))
def test_a_record_without_the_service_pass_is_refused_naming_it(table: str, tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    config, record, pacts = _deployed(TABLES[table](), tmp_path)
    guard, route = _app_guard(config), _payments(config)
    monkeypatch.setenv(VARIABLE, DEPLOYED)
    record_all(record, pacts=pacts, provider_version_of=lambda req: RECORDED, keep=lambda req: req.against != "service")
    with pytest.raises(FlipRefused, match="cannot go to canary: contract verification failing for service "
                                          "'payments' \\(3 of 6") as refused:
        guard(route, RouteState(), CANARY)
    for pact in ("storefront -> payments", "monolith-orders -> payments",
                 "monolith-event-consumers -> payments-events"):
        assert f"{pact} against the service: never verified" in str(refused.value)
    assert "against the monolith" not in str(refused.value)


@pytest.mark.parametrize("table", sorted(TABLES))
def test_going_back_to_the_monolith_is_always_allowed(table: str, tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    config, _, _ = _deployed(TABLES[table](), tmp_path)  # no record at all
    guard, route = _app_guard(config), _payments(config)
    monkeypatch.delenv(VARIABLE, raising=False)
    for current in (RouteState(Mode.SERVICE), CANARY, RouteState(Mode.SHADOW)):
        guard(route, current, RouteState(Mode.MONOLITH))
