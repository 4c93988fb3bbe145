"""Loading and validating the route table file."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest

from strangler.proxy.config import ConfigError, load_config, parse_config
from strangler.proxy.types import DEFAULT_ROUTE, Mode

EXAMPLE = Path(__file__).parent.parent / "examples" / "routes.toml"

BASE = {
    "targets": {"monolith": {"url": "http://127.0.0.1:8001"}, "payments": {"url": "http://127.0.0.1:8002"}},
    "routes": [{"name": "payments", "prefix": "/api/v1/payments", "service": "payments"}],
}


def _with(path: str, value) -> dict:
    data = copy.deepcopy(BASE)
    node = data
    keys = path.split(".")
    for key in keys[:-1]:
        node = node[int(key)] if isinstance(node, list) else node.setdefault(key, {})
    node[keys[-1]] = value
    return data


def test_example_file_loads():
    config = load_config(EXAMPLE, env={"STRANGLER_OVERRIDE_SECRET": "s3cret"})
    assert (config.listen_host, config.listen_port) == ("127.0.0.1", 8000)
    assert (config.admin_host, config.admin_port) == ("127.0.0.1", 8100)
    assert config.override_secret == b"s3cret"
    assert config.redis_url is None
    routes = config.table.routes
    assert [r.name for r in routes] == ["payments", DEFAULT_ROUTE]
    payments = routes[0]
    assert (payments.prefix, payments.service, payments.state.mode) == ("/api/v1/payments", "payments", Mode.MONOLITH)
    assert (payments.cohort.source, payments.cohort.name) == ("header", "x-user-id")
    assert payments.shadow.dry_run_header == "X-Dry-Run"
    assert payments.idempotency_key_honoured is False
    assert (payments.deadlines.body, payments.deadlines.response) == (120.0, 300.0)
    assert config.table.targets["payments"].port == 8002


def test_defaults_and_sorting():
    data = copy.deepcopy(BASE)
    data["routes"].append({"name": "api", "prefix": "/api/", "service": "payments", "mode": "canary", "weight": 5})
    config = parse_config(data, env={})
    assert [r.prefix for r in config.table.routes] == ["/api/v1/payments", "/api", "/"]
    assert config.override_secret is None
    assert config.table.routes[-1].service is None


@pytest.mark.parametrize(("path", "value", "message"), [
    ("routes.0.mode", "blue-green", "route 'payments' mode: unknown mode 'blue-green'"),
    ("routes.0.weight", 101, "route 'payments' weight"),
    ("routes.0.weight", -1, "route 'payments' weight"),
    ("routes.0.service", "billing", "route 'payments' service: 'billing' is not a defined target"),
    ("routes.0.prefix", "api/v1", "route 'payments' prefix"),
    ("routes.0.colour", "red", "route 'payments': unknown key(s) colour"),
    ("routes.0.cohort", "session", "route 'payments' cohort"),
    ("routes.0.idempotency_key_honoured", "yes", "route 'payments' idempotency_key_honoured"),
    ("routes.0.retry", {"attempts": "3"}, "route 'payments' retry attempts"),
    ("routes.0.breaker", {"treshold": 3}, "route 'payments' breaker: unknown key(s) treshold"),
    ("routes.0.shadow", {"noise_sample": 2.0}, "noise_sample"),
    ("targets.payments.url", "https://x", "[targets.payments] url"),
    ("proxy", {"listen": "nowhere"}, "[proxy] listen"),
    ("proxy", {"limits": {"max_body": 1}}, "[proxy.limits]: unknown key(s) max_body"),
    ("store", {"redis_url": "http://x"}, "redis_url"),
    ("extra", {}, "top level: unknown key(s) extra"),
    ("rollouts", {"tick": 5, "lease": 5}, "[rollouts]: tick and lease are seconds, with 0 < tick < lease"),
    ("rollouts", {"period": 1}, "[rollouts]: unknown key(s) period"),
    ("rollouts", {"reconcile": {"ledger": ["true"]}}, "[rollouts.reconcile] ledger: no route with a service"),
    ("rollouts", {"reconcile": {"payments": "make reconcile"}}, "[rollouts.reconcile] payments: expected a command"),
])
def test_errors_name_the_culprit(path, value, message):
    with pytest.raises(ConfigError) as err:
        parse_config(_with(path, value), env={})
    assert message in str(err.value)


def test_duplicate_names_and_missing_monolith():
    data = copy.deepcopy(BASE)
    data["routes"].append(dict(data["routes"][0]))
    with pytest.raises(ConfigError, match="route 'payments': duplicate route name"):
        parse_config(data, env={})
    data = copy.deepcopy(BASE)
    del data["targets"]["monolith"]
    with pytest.raises(ConfigError, match="missing the 'monolith' target"):
        parse_config(data, env={})


def test_bad_toml_and_missing_file(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("[proxy\n")
    with pytest.raises(ConfigError, match="invalid TOML"):
        load_config(bad)
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(tmp_path / "missing.toml")


def test_admin_status_credential_signs_the_status_polls():
    data = copy.deepcopy(BASE)
    data["admin"] = {"status_credential": {"caller": "strangler", "secret_env": "STATUS_SECRET"}}
    config = parse_config(data, env={"STATUS_SECRET": "s3cret"})
    assert (config.status_caller, config.status_secret) == ("strangler", b"s3cret")
    assert "s3cret" not in repr(config)
    assert parse_config(copy.deepcopy(BASE), env={}).status_caller is None  # no polls unless asked
    data["admin"]["status_credential"]["audience"] = "x"  # per target, never one for every poll
    with pytest.raises(ConfigError, match=r"\[admin\] status credential"):
        parse_config(data, env={})


def test_rollouts_default_and_reconcile_commands():
    config = parse_config(BASE, env={})
    assert (config.rollout_tick, config.rollout_lease, dict(config.rollout_reconcile)) == (1.0, 5.0, {})
    argv = ["python", "manage.py", "strangler_reconcile", "payments"]
    config = parse_config(_with("rollouts", {"tick": 0.5, "lease": 3, "reconcile": {"payments": argv}}), env={})
    assert (config.rollout_tick, config.rollout_lease) == (0.5, 3.0)
    assert config.rollout_reconcile == {"payments": tuple(argv)}
