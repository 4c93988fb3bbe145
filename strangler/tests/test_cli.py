"""The real `strangler` command in a subprocess (python -m strangler)."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest

from strangler.tests.control_support import cli, config_text, write_config

pytestmark = pytest.mark.integration


@pytest.fixture
def config(tmp_path: Path) -> Path:
    return write_config(tmp_path, store_url=f"sqlite:///{tmp_path}/routes.db")


def _routes(config: Path) -> dict[str, dict]:
    result = cli(config, "routes", "--json")
    assert result.returncode == 0, result.stderr
    return {r["route"]: r for r in json.loads(result.stdout)["routes"]}


def test_check_accepts_a_valid_file(config: Path) -> None:
    result = cli(config, "check", str(config))
    assert result.returncode == 0, result.stderr
    assert "ok: 3 routes (billing, orders, DEFAULT)" in result.stdout


def test_check_accepts_the_example_file() -> None:
    example = Path(__file__).resolve().parents[1] / "examples" / "routes.toml"
    result = cli(example, "check", str(example))
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda t: t.replace('mode = "monolith"', 'mode = "blue"'), "route 'orders' mode: unknown mode 'blue'"),
        (lambda t: t.replace('service = "orders"\nmode', 'service = "nope"\nmode'), "'nope' is not a defined target"),
        (lambda t: t.replace("[targets.monolith]", "[targets.mono]"), "missing the 'monolith' target"),
        (lambda t: t + "\n[[routes]\n", "invalid TOML"),
    ],
)
def test_check_rejects_an_invalid_file(tmp_path: Path, edit, message: str) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text(edit(config_text(store_url=f"sqlite:///{tmp_path}/r.db")))
    result = cli(bad, "check", str(bad))
    assert result.returncode == 1
    assert message in result.stderr
    assert result.stdout == ""


def test_set_routes_history_rollback(config: Path) -> None:
    routes = _routes(config)
    assert routes["orders"]["mode"] == "monolith"
    assert routes["orders"]["breaker"] == "unknown"  # no proxy running
    assert routes["DEFAULT"]["breaker"] == "-"

    result = cli(config, "set", "orders", "--mode", "canary", "--weight", "25", "--reason", "start canary")
    assert result.returncode == 0, result.stderr
    assert "orders: monolith -> canary 25% by tester" in result.stdout
    assert (_routes(config)["orders"]["mode"], _routes(config)["orders"]["weight"]) == ("canary", 25)

    table = cli(config, "routes")
    assert table.returncode == 0
    line = next(x for x in table.stdout.splitlines() if x.startswith("orders"))
    assert line.split() == ["orders", "/api/orders", "orders", "canary", "25", "unknown"]

    result = cli(config, "set", "orders", "--mode", "service", "--reason", "all in", "--actor", "ann")
    assert result.returncode == 0, result.stderr

    history = cli(config, "history", "orders", "--json")
    assert history.returncode == 0
    entries = json.loads(history.stdout)
    assert [(e["actor"], e["from_mode"], e["to_mode"], e["to_weight"], e["reason"]) for e in entries[:2]] == [
        ("ann", "canary", "service", 100, "all in"),
        ("tester", "monolith", "canary", 25, "start canary"),
    ]
    text = cli(config, "history")
    assert "monolith -> canary 25%" in text.stdout and "start canary" in text.stdout

    result = cli(config, "rollback", "orders", "--reason", "5xx up")
    assert result.returncode == 0, result.stderr
    assert "service -> canary 25%" in result.stdout
    assert (_routes(config)["orders"]["mode"], _routes(config)["orders"]["weight"]) == ("canary", 25)
    assert json.loads(cli(config, "history", "orders", "--json").stdout)[0]["reason"] == "5xx up"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["set", "nope", "--mode", "shadow", "--reason", "r"], "unknown route 'nope'"),
        (["set", "orders", "--mode", "canary", "--reason", "r"], "canary mode needs a weight"),
        (["set", "orders", "--mode", "canary", "--weight", "150", "--reason", "r"], "between 0 and 100"),
        (["set", "DEFAULT", "--mode", "service", "--reason", "r"], "has no service"),
        (["set", "orders", "--mode", "shadow", "--reason", " "], "reason is required"),
        (["rollback", "orders", "--reason", "r"], "no change to roll back"),
        (["set", "orders", "--mode", "shadow"], "--reason"),  # argparse: required option
    ],
)
def test_errors_exit_2_with_a_clear_message(config: Path, args: list[str], message: str) -> None:
    result = cli(config, *args)
    assert result.returncode == 2
    assert message in result.stderr
    assert _routes(config)["orders"]["mode"] == "monolith"


def test_missing_config_is_an_error(tmp_path: Path) -> None:
    result = cli(tmp_path / "missing.toml", "routes")
    assert result.returncode == 2
    assert "cannot read config" in result.stderr


def test_serve_refuses_to_start_without_a_token(config: Path) -> None:
    result = cli(config, "serve", STRANGLER_ADMIN_TOKEN="")
    assert result.returncode == 2
    assert "no admin token" in result.stderr


def test_unreachable_store_is_a_clear_error(tmp_path: Path) -> None:
    config = write_config(tmp_path, store_url="postgresql://postgres@127.0.0.1:1/nothing")
    result = cli(config, "set", "orders", "--mode", "shadow", "--reason", "r")
    assert result.returncode == 2
    assert "cannot open store postgresql://postgres@127.0.0.1:1/nothing" in result.stderr
    assert "Traceback" not in result.stderr


def test_serve_on_a_busy_port_fails_cleanly(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        config = tmp_path / "routes.toml"
        config.write_text(config_text(store_url=f"sqlite:///{tmp_path}/r.db").replace(
            'listen = "127.0.0.1:0"\naccess_log', f'listen = "127.0.0.1:{port}"\naccess_log'))
        result = cli(config, "serve")
    assert result.returncode == 2
    assert "address already in use" in result.stderr.lower()
    assert "Traceback" not in result.stderr


def test_override_prints_a_header_the_proxy_accepts(config: Path) -> None:
    import time

    from strangler.proxy.routing import verify_override
    from strangler.proxy.types import Side

    result = cli(config, "override", "orders", "--side", "service", "--ttl", "60",
                 STRANGLER_OVERRIDE_SECRET="s3cret")
    assert result.returncode == 0, result.stderr
    name, _, value = result.stdout.strip().partition(": ")
    assert name == "X-Strangler-Override"
    assert verify_override(b"s3cret", value, "orders", time.time()) is Side.SERVICE
    assert verify_override(b"s3cret", value, "billing", time.time()) is None  # bound to its route
    assert verify_override(b"s3cret", value, "orders", time.time() + 120) is None  # expires


def test_override_needs_a_secret_and_a_known_route(config: Path) -> None:
    result = cli(config, "override", "orders", "--side", "service", STRANGLER_OVERRIDE_SECRET="")
    assert result.returncode == 2 and "no override secret" in result.stderr
    result = cli(config, "override", "nope", "--side", "service", STRANGLER_OVERRIDE_SECRET="x")
    assert result.returncode == 2 and "unknown route 'nope'" in result.stderr
