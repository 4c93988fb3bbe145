"""The contracts guard the cut: a breaking change in the service fails provider verification with a
message that names the field, and the strangler refuses to send payments traffic to the service
while the verification record says so.

Each breaking change is a temporary patch applied to a copy of the repository (never to this
checkout); ``python -m contracts.verify --root <copy>`` then verifies that copy's service on live
servers against the committed pacts. Only the pacts a case needs are verified, to keep it short.
The gate asks what can-i-deploy asks: a flip waits for every pact verified against the monolith
AND the service at this code's version; a service-only, old or partial record is refused, naming
what is missing.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from contracts import participants
from tests.contracts_support import patch, record_all, tree_copy
from tests.cutover_support import stack

# db_independent: verifications run each provider on a SQLite file of its own; the PostgreSQL pass skips it.
pytestmark = [pytest.mark.db_independent, pytest.mark.integration]

ROOT = Path(__file__).resolve().parents[1]
PACTS = ROOT / "contracts" / "pacts"
TIMEOUT = 240


def _verify(root: Path, record: Path, *options: str, against: str = "service",
            pacts: Path = PACTS) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PACT_BROKER_")}  # never a real broker
    return subprocess.run(
        [sys.executable, "-m", "contracts.verify", "--against", against, "--root", str(root), "--record",
         str(record), "--pacts", str(pacts), *options],
        cwd=ROOT, capture_output=True, text=True, timeout=TIMEOUT, env=env | {"PACT_DO_NOT_TRACK": "true"},
    )


def _records(record: Path) -> list[dict]:
    return [json.loads(line) for line in record.read_text().splitlines() if line.strip()]


@pytest.fixture(scope="module")
def renamed(tmp_path_factory: pytest.TempPathFactory) -> tuple[subprocess.CompletedProcess[str], Path]:
    """The storefront pact verified against a service whose payments call ``refunded_minor``
    ``refunded_amount_minor``; returns the run and its record."""
    tmp = tmp_path_factory.mktemp("renamed")
    root = tree_copy(tmp / "tree")
    patch(root, "monolith/payments/apis.py", "    refunded_minor = serializers.IntegerField()\n",
           '    refunded_amount_minor = serializers.IntegerField(source="refunded_minor")\n')
    record = tmp / "verifications.jsonl"
    return _verify(root, record, "--service", "payments", "--only", "storefront"), record


def test_a_renamed_response_field_fails_verification_naming_it(renamed):
    run, record = renamed
    assert run.returncode == 1, run.stdout + run.stderr
    assert "FAIL storefront -> payments against the service" in run.stdout
    assert "missing the following keys: refunded_minor" in run.stdout, run.stdout
    [line] = _records(record)
    assert (line["consumer"], line["against"], line["result"]) == ("storefront", "service", "failed")
    assert "refunded_minor" in line["summary"]


def test_a_retyped_response_field_fails_verification_naming_it(tmp_path):
    root = tree_copy(tmp_path / "tree")
    patch(root, "monolith/payments/apis.py",
           "    order_id = serializers.UUIDField()\n    amount_minor = serializers.IntegerField()\n",
           "    order_id = serializers.UUIDField()\n    amount_minor = serializers.CharField()\n")
    run = _verify(root, tmp_path / "verifications.jsonl", "--service", "payments", "--only", "storefront")
    assert run.returncode == 1, run.stdout + run.stderr
    retyped = r"\$(\[0\])?\.amount_minor -> Expected '2500' \(String\) to be an integer"
    assert re.search(retyped, run.stdout), run.stdout


def test_a_removed_event_field_fails_the_message_pact_naming_it(tmp_path):
    """Notifications mail the amount of a failed payment: PaymentFailed without ``currency`` breaks them."""
    root = tree_copy(tmp_path / "tree")
    patch(root, "monolith/payments/events.py", "    currency: str\n    reason: str", "    reason: str")
    patch(root, "monolith/payments/services.py", "currency=payment.currency, reason=failure_reason)",
           "reason=failure_reason)")
    record = tmp_path / "verifications.jsonl"
    run = _verify(root, record, "--provider", "payments-events")
    assert run.returncode == 1, run.stdout + run.stderr
    assert "FAIL monolith-event-consumers -> payments-events against the service" in run.stdout
    assert "$.payload -> Actual map is missing the following keys: currency" in run.stdout, run.stdout
    [line] = _records(record)
    assert line["result"] == "failed" and "a payment failed for an order" in line["summary"]


def test_a_state_without_a_handler_stops_verification_before_it_starts(tmp_path):
    pacts = tmp_path / "pacts"
    pacts.mkdir()
    text = (PACTS / "storefront-payments.json").read_text()
    state = '"another shopper has a captured payment"'
    assert text.count(state) == 1
    (pacts / "storefront-payments.json").write_text(text.replace(state, '"a shopper holds a gift card"'))
    record = tmp_path / "verifications.jsonl"
    run = _verify(ROOT, record, against="monolith", pacts=pacts)
    assert run.returncode == 2, run.stdout + run.stderr
    assert "storefront-payments.json: provider state 'a shopper holds a gift card'" in run.stderr, run.stderr
    assert "PASS" not in run.stdout and "FAIL" not in run.stdout  # stopped before verifying anything
    lines = _records(record)  # unverified is not passed: every selected pact is recorded as failed
    assert {(r["consumer"], r["result"]) for r in lines} == {("storefront", "failed")}
    assert "a shopper holds a gift card" in lines[0]["summary"]


def _route_table(tmp: Path, record: Path) -> Path:
    store = f"sqlite:///{tmp / 'routes.db'}"
    text = stack.routes_for(ports=stack.DEFAULT_PORTS, store=store, record=record)  # the test's record, not the checkout's
    path = tmp / "routes.toml"
    path.write_text(text)
    parsed = tomllib.loads(text)
    assert (parsed["store"]["url"], parsed["contracts"]["record"]) == (store, str(record))
    return path


def _flip(config: Path) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "strangler", "--config", str(config), "set", "payments", "--mode",
               "service", "--reason", "contract gate test"]
    return subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=60)


def test_the_flip_to_the_service_waits_for_passing_contracts(renamed, tmp_path):
    failing, failed_record = renamed
    assert failing.returncode == 1
    record = tmp_path / "verifications.jsonl"
    shutil.copy2(failed_record, record)  # the fixture's record stays as the rename test expects it
    config = _route_table(tmp_path, record)

    refused = _flip(config)
    assert refused.returncode != 0, refused.stdout + refused.stderr
    assert "contract verification failing for service 'payments'" in refused.stderr, refused.stderr

    # This checkout, every pact, appended to the same record: against the service alone is not enough.
    passing = _verify(ROOT, record, "--service", "payments")
    assert passing.returncode == 0, passing.stdout + passing.stderr
    assert {(r["consumer"], r["against"], r["result"]) for r in _records(record)[1:]} == {
        ("storefront", "service", "passed"), ("monolith-orders", "service", "passed"),
        ("monolith-event-consumers", "service", "passed")}
    still = _flip(config)
    assert still.returncode != 0, still.stdout + still.stderr
    assert "storefront -> payments against the monolith: never verified" in still.stderr, still.stderr

    passing = _verify(ROOT, record, "--service", "payments", against="monolith")
    assert passing.returncode == 0, passing.stdout + passing.stderr
    allowed = _flip(config)
    assert allowed.returncode == 0, allowed.stdout + allowed.stderr


# What a verification record holds, and what the gate must say is missing from it.
_NOT_ENOUGH = {
    "service only": (lambda req: req.against == participants.SERVICE, {},
                     "storefront -> payments against the monolith: never verified"),
    "an old pass": (lambda req: True, {"provider_version_of": lambda req: "0ld0ld0ld0ld"},
                    "storefront -> payments against the service: verified older code (0ld0ld0ld0ld)"),
    "a subset of the pacts": (lambda req: req.consumer != participants.STOREFRONT, {},
                              "storefront -> payments against the service: never verified"),
}


@pytest.mark.parametrize("case", sorted(_NOT_ENOUGH))
def test_the_gate_refuses_what_can_i_deploy_refuses_naming_what_is_missing(tmp_path, case):
    """Passing lines are not enough: every pact of payments (as the pact files are now), this code,
    verified against the monolith and the service, or the flip is refused."""
    keep, options, missing = _NOT_ENOUGH[case]
    record = tmp_path / "verifications.jsonl"
    assert record_all(record, keep=keep, **options) > 0
    refused = _flip(_route_table(tmp_path, record))
    assert refused.returncode != 0, f"{case}: flipped on {_records(record)}"
    assert missing in refused.stderr, refused.stderr

    record_all(record)  # now everything, at today's versions
    allowed = _flip(_route_table(tmp_path, record))
    assert allowed.returncode == 0, allowed.stdout + allowed.stderr
