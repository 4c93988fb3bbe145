"""`make can-i-deploy`: offline from the verification record, or from a Pact Broker's matrix.

The offline answer is checked against the committed pacts and the real source tree, with records
written the way the verification writes them. The broker answer is checked against a small HTTP
server speaking the broker's matrix API (no broker runs here), to pin the requests we send.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import urllib.parse
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from contracts import participants
from contracts.broker import Broker, BrokerError
from contracts.can_i_deploy import requirements
from contracts.environments import deployed
from contracts.pactfiles import PACT_DIR as PACTS
from contracts.versions import REPO_ROOT as ROOT
from contracts.versions import consumer_version, provider_version
from strangler.control.verifications import (
    FAILED,
    ContractRecordError,
    Deployment,
    environment_check,
    verifications_read,
)
from tests.contracts_support import patch, record_all, tree_copy

# db_independent: the verification record and source versions only; the PostgreSQL pass skips it.
pytestmark = pytest.mark.db_independent


def can_i_deploy(*args: str, env: dict[str, str] | None = None,
                 service: str | None = "payments") -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in __import__("os").environ.items() if not k.startswith("PACT_BROKER")}
    who = ("--service", service) if service else ()
    return subprocess.run([sys.executable, "-m", "contracts.can_i_deploy", *who, *args],
                          cwd=ROOT, env=base | (env or {}), capture_output=True, text=True, timeout=60)


def test_the_committed_pacts_cover_every_provider_of_payments(tmp_path: Path) -> None:
    needed = requirements("payments", pacts=PACTS, record=tmp_path / "none.jsonl", root=ROOT)
    pairs = {(r.consumer, r.provider) for r in needed}
    assert pairs == {(participants.STOREFRONT, participants.PAYMENTS),
                     (participants.MONOLITH_ORDERS, participants.PAYMENTS),
                     (participants.MONOLITH_EVENTS, participants.PAYMENTS_EVENTS)}
    assert {r.against for r in needed} == set(participants.AGAINST)


def test_yes_only_when_every_pact_passed_on_both_implementations_for_this_code(tmp_path: Path) -> None:
    record = tmp_path / "v.jsonl"
    no = can_i_deploy("--record", str(record))
    assert no.returncode == 1 and "never verified" in no.stdout and no.stdout.rstrip().endswith("run `make contracts`")

    record_all(record, keep=lambda req: (req.consumer, req.against) != (participants.STOREFRONT, participants.SERVICE))
    partial = can_i_deploy("--record", str(record))
    assert partial.returncode == 1
    assert "1 of 6 verifications missing" in partial.stdout

    record_all(record)
    yes = can_i_deploy("--record", str(record))
    assert yes.returncode == 0, yes.stdout + yes.stderr
    assert yes.stdout.splitlines()[-1].startswith("yes: payments")

    record_all(record, FAILED, keep=lambda req: (req.consumer, req.against) != (participants.MONOLITH_ORDERS, participants.MONOLITH))
    failed = can_i_deploy("--record", str(record))
    assert failed.returncode == 1 and "FAILED at" in failed.stdout


def test_a_pass_for_other_code_or_another_pact_does_not_count(tmp_path: Path) -> None:
    record = tmp_path / "v.jsonl"
    record_all(record, provider_version_of=lambda req: "0ld0ld0ld0ld")
    stale = can_i_deploy("--record", str(record))
    assert stale.returncode == 1 and "verified older code (0ld0ld0ld0ld)" in stale.stdout

    pact = next(PACTS.glob("*.json"))
    changed = tmp_path / pact.name
    changed.write_text(pact.read_text().replace('"interactions"', '"interactions" ', 1))
    assert consumer_version(changed) != consumer_version(pact)


def test_the_provider_version_is_the_commit_and_a_dirty_tree_is_marked(tmp_path: Path) -> None:
    tree = tree_copy(tmp_path / "tree")
    commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=tree, capture_output=True, text=True,
                            check=True).stdout.strip()
    clean = provider_version(participants.PAYMENTS, root=tree)
    assert clean == commit[:12] == provider_version(participants.PAYMENTS_EVENTS, root=tree)

    (tree / "constraints.txt").write_text((tree / "constraints.txt").read_text() + "left-pad==1.0\n")
    locked = provider_version(participants.PAYMENTS, root=tree)
    assert locked.startswith(f"{commit[:12]}+dirty.")
    (tree / "monolith" / "users" / "introspection_v2.py").write_text("# a new module\n")  # untracked counts
    assert provider_version(participants.PAYMENTS, root=tree) not in (clean, locked)

    with pytest.raises(KeyError, match="unknown provider 'ledger'"):
        provider_version("ledger", root=tree)


def test_a_tree_outside_git_cannot_be_asked_about(tmp_path: Path) -> None:
    result = can_i_deploy("--record", str(tmp_path / "v.jsonl"), "--root", str(tmp_path))
    assert result.returncode == 2, result.stdout + result.stderr
    assert "is not in a git work tree" in result.stderr


def test_a_changed_exception_handler_makes_can_i_deploy_say_no(tmp_path: Path) -> None:
    """The DRF exception handler shapes every error body the pacts pin: changing which one the
    monolith's settings name is changing the provider, though no file of the payments code moved."""
    tree = tree_copy(tmp_path / "tree")
    record = tmp_path / "v.jsonl"
    ask = ("--record", str(record), "--root", str(tree), "--pacts", str(tree / "contracts" / "pacts"))
    record_all(record, root=tree, pacts=tree / "contracts" / "pacts")
    yes = can_i_deploy(*ask)
    assert yes.returncode == 0, yes.stdout + yes.stderr

    patch(tree, "monolith/config/settings.py", '"EXCEPTION_HANDLER": "strangler.django.errors.api_exception_handler"',
          '"EXCEPTION_HANDLER": "rest_framework.views.exception_handler"')
    no = can_i_deploy(*ask)
    assert no.returncode == 1, no.stdout + no.stderr
    assert "verified older code" in no.stdout


class _Broker(BaseHTTPRequestHandler):
    seen: list[tuple[str, str, str, str]] = []
    deployable = True

    def _answer(self, body: object, status: int = 200) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/hal+json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        self.seen.append(("GET", self.path, self.headers.get("Authorization", ""), ""))
        if not self.path.startswith(("/matrix?", "/can-i-deploy?")):
            return self._answer({"error": "not found"}, 404)
        self._answer({"summary": {"deployable": self.deployable, "reason": "All required verification results are published and successful" if self.deployable else "There is no verified pact"}})

    def do_PUT(self) -> None:  # noqa: N802
        body = self.rfile.read(int(self.headers.get("Content-Length", 0))).decode()
        self.seen.append(("PUT", self.path, self.headers.get("Authorization", ""), body))
        self._answer({}, 200)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def broker() -> Iterator[str]:
    _Broker.seen = []
    _Broker.deployable = True
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Broker)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_with_a_broker_the_matrix_answers(broker: str) -> None:
    env = {"PACT_BROKER_BASE_URL": broker, "PACT_BROKER_TOKEN": "t0k"}
    yes = can_i_deploy(env=env)
    assert yes.returncode == 0, yes.stdout + yes.stderr
    asked = [path for method, path, auth, _ in _Broker.seen if method == "GET"]
    version = provider_version(participants.PAYMENTS, root=ROOT)
    pair = urllib.parse.urlencode([("q[][pacticipant]", "payments"), ("q[][version]", version)])  # "+dirty" quoted
    assert any(pair in p for p in asked), asked
    assert any("pacticipant%5D=payments-events" in p for p in asked), asked
    assert all(auth == "Bearer t0k" for _, _, auth, _ in _Broker.seen)

    _Broker.deployable = False
    no = can_i_deploy(env=env)
    assert no.returncode == 1 and "There is no verified pact" in no.stdout


def test_publishing_a_pact_puts_it_under_its_consumer_version(broker: str) -> None:
    pact = next(PACTS.glob("*.json"))
    body = json.loads(pact.read_text())
    url = Broker(base_url=broker, username="u", password="p").pact_publish(pact, consumer_version="abc123", branch="main")
    consumer, provider = body["consumer"]["name"], body["provider"]["name"]
    assert url == f"{broker}/pacts/provider/{provider}/consumer/{consumer}/version/abc123"
    method, path, auth, sent = _Broker.seen[0]
    assert (method, path) == ("PUT", f"/pacts/provider/{provider}/consumer/{consumer}/version/abc123")
    assert auth.startswith("Basic ") and json.loads(sent) == body
    assert _Broker.seen[1][1] == f"/pacticipants/{consumer}/branches/main/versions/abc123"


def test_an_unreachable_broker_is_cannot_tell_not_no() -> None:
    result = can_i_deploy(env={"PACT_BROKER_BASE_URL": "http://127.0.0.1:9"})
    assert result.returncode == 2 and "cannot tell" in result.stderr
    with pytest.raises(BrokerError, match="127.0.0.1:9"):
        Broker(base_url="http://127.0.0.1:9").can_i_deploy("payments", "x")


def record_deployment(*args: str) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in __import__("os").environ.items() if not k.startswith("PACT_BROKER")}
    return subprocess.run([sys.executable, "-m", "contracts.record_deployment", *args], cwd=ROOT, env=base,
                          capture_output=True, text=True, timeout=60)


def _changed_pacts(tmp_path: Path) -> Path:
    """The committed pacts with storefront's changed (a new version of the storefront app)."""
    changed = tmp_path / "changed-pacts"
    changed.mkdir()
    for pact in PACTS.glob("*.json"):
        text = pact.read_text()
        if pact.name == "storefront-payments.json":
            text = text.replace('"interactions"', '"interactions" ', 1)
        (changed / pact.name).write_text(text)
    return changed


def test_a_provider_asks_about_the_consumer_versions_deployed_in_an_environment(tmp_path: Path) -> None:
    record = tmp_path / "v.jsonl"
    changed = _changed_pacts(tmp_path)
    record_all(record)  # today's pacts verified against both implementations at this code
    verified = len(verifications_read(record))
    deployed = record_deployment("--consumer", "storefront", "--environment", "production", "--record", str(record))
    assert deployed.returncode == 0, deployed.stdout + deployed.stderr
    assert "recorded storefront" in deployed.stdout and "in production" in deployed.stdout

    # A newer storefront pact exists, not verified yet: payments may still go to production, where
    # the storefront that runs is the one whose pact was verified; without an environment, no.
    ask = ("--record", str(record), "--pacts", str(changed))
    assert can_i_deploy(*ask).returncode == 1
    prod = can_i_deploy(*ask, "--to-environment", "production")
    assert prod.returncode == 0, prod.stdout + prod.stderr
    assert "storefront" in prod.stdout and "monolith-orders" not in prod.stdout  # only what runs there

    staged = record_deployment("--consumer", "storefront", "--environment", "staging", "--record", str(record),
                               "--pacts", str(changed))
    assert staged.returncode == 0, staged.stdout + staged.stderr
    staging = can_i_deploy(*ask, "--to-environment", "staging")
    assert staging.returncode == 1 and "storefront -> payments" in staging.stdout and "older pact" in staging.stdout

    empty = can_i_deploy(*ask, "--to-environment", "qa")
    assert empty.returncode == 0 and "no consumer of payments is deployed in qa" in empty.stdout
    # The gate reads the same file: deployment lines are not verifications, and do not break it.
    assert len(verifications_read(record)) == verified


def test_a_consumer_asks_about_the_provider_deployed_in_an_environment(tmp_path: Path) -> None:
    record = tmp_path / "v.jsonl"
    record_all(record)
    deployed = record_deployment("--service", "payments", "--environment", "production", "--record", str(record))
    assert deployed.returncode == 0, deployed.stdout + deployed.stderr
    # The storefront also reads products: without the catalog deployed there, it cannot be told yes.
    held = can_i_deploy("--consumer", "storefront", "--to-environment", "production", "--record", str(record),
                        service=None)
    assert held.returncode == 1 and "catalog has no deployment recorded in production" in held.stdout
    record_all(record, service="catalog")
    assert record_deployment("--service", "catalog", "--environment", "production", "--record",
                             str(record)).returncode == 0

    yes = can_i_deploy("--consumer", "storefront", "--to-environment", "production", "--record", str(record),
                       service=None)
    assert yes.returncode == 0, yes.stdout + yes.stderr
    assert "storefront -> payments" in yes.stdout and "storefront -> catalog" in yes.stdout
    assert "monolith-orders" not in yes.stdout
    changed = _changed_pacts(tmp_path)
    no = can_i_deploy("--consumer", "storefront", "--to-environment", "production", "--record", str(record),
                      "--pacts", str(changed), service=None)
    assert no.returncode == 1 and "verified an older pact" in no.stdout
    nowhere = can_i_deploy("--consumer", "storefront", "--to-environment", "nowhere", "--record", str(record),
                           service=None)
    assert nowhere.returncode == 1 and "has no deployment recorded in nowhere" in nowhere.stdout
    bad = record_deployment("--service", "payments", "--environment", "Prod uction", "--record", str(record))
    assert bad.returncode == 2 and "environment" in bad.stderr


def test_with_a_broker_an_environment_is_the_broker_s_can_i_deploy(broker: str) -> None:
    yes = can_i_deploy("--to-environment", "production", env={"PACT_BROKER_BASE_URL": broker})
    assert yes.returncode == 0, yes.stdout + yes.stderr
    asked = [path for method, path, _, _ in _Broker.seen if method == "GET"]
    assert all(p.startswith("/can-i-deploy?pacticipant=payments") and p.endswith("&environment=production")
               for p in asked) and len(asked) == 2, asked


def test_what_runs_in_an_environment_is_its_latest_deployment_of_each() -> None:
    lines = [Deployment("t1", "production", "storefront", "v1", provider="payments"),
             Deployment("t2", "staging", "storefront", "v2", provider="payments"),
             Deployment("t3", "production", "payments", "p1"),
             Deployment("t4", "production", "storefront", "v3", provider="payments")]
    assert deployed(lines, "production") == {("storefront", "payments"): "v3", ("payments", ""): "p1"}
    assert deployed(lines, "qa") == {}


def test_a_damaged_deployment_line_or_environment_name_is_an_error(tmp_path: Path) -> None:
    record = tmp_path / "v.jsonl"
    record.write_text('{"kind": "deployment", "at": "t1", "environment": "production"}\n')
    with pytest.raises(ContractRecordError, match=r"v.jsonl:1: deployment: missing or empty pacticipant, version"):
        verifications_read(record)
    with pytest.raises(ContractRecordError, match="environment must be"):
        environment_check("prod uction")
