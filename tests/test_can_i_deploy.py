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
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from contracts import participants
from contracts.broker import Broker, BrokerError
from contracts.can_i_deploy import requirements
from contracts.pactfiles import PACT_DIR as PACTS
from contracts.versions import REPO_ROOT as ROOT
from contracts.versions import consumer_version, provider_version
from strangler.contracts import FAILED, PASSED, Verification, verification_append


def can_i_deploy(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in __import__("os").environ.items() if not k.startswith("PACT_BROKER")}
    return subprocess.run([sys.executable, "-m", "contracts.can_i_deploy", "--service", "payments", *args],
                          cwd=ROOT, env=base | (env or {}), capture_output=True, text=True, timeout=60)


def record_all(record: Path, result: str = PASSED, *, skip: tuple[str, str] | None = None,
               provider_version_of=None) -> int:
    """A verification of every payments pact against both implementations, at today's versions."""
    count = 0
    for req in requirements("payments", pacts=PACTS, record=record, root=ROOT):
        if skip == (req.consumer, req.against):
            continue
        pv = provider_version_of(req) if provider_version_of else req.provider_version
        verification_append(record, Verification(
            at=f"2026-11-21T10:00:{count:02d}+00:00", service="payments", consumer=req.consumer,
            consumer_version=req.consumer_version, provider=req.provider, provider_version=pv,
            against=req.against, result=result, summary="test"))
        count += 1
    return count


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

    record_all(record, skip=(participants.STOREFRONT, participants.SERVICE))
    partial = can_i_deploy("--record", str(record))
    assert partial.returncode == 1
    assert "1 of 6 verifications missing" in partial.stdout

    record_all(record)
    yes = can_i_deploy("--record", str(record))
    assert yes.returncode == 0, yes.stdout + yes.stderr
    assert yes.stdout.splitlines()[-1].startswith("yes: payments")

    record_all(record, FAILED, skip=(participants.MONOLITH_ORDERS, participants.MONOLITH))
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


def test_the_provider_version_follows_the_provider_source(tmp_path: Path) -> None:
    copy = tmp_path / "tree"
    files = subprocess.run(["git", "ls-files", "monolith/kernel", "monolith/payments", "extracted/payments"],
                           cwd=ROOT, capture_output=True, text=True, check=True).stdout.split()
    for name in files:
        (copy / name).parent.mkdir(parents=True, exist_ok=True)
        (copy / name).write_bytes((ROOT / name).read_bytes())
    before = provider_version(participants.PAYMENTS, root=copy)
    events = copy / "monolith" / "payments" / "events.py"
    events.write_text(events.read_text() + "\n# a change\n")
    assert provider_version(participants.PAYMENTS, root=copy) != before


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
        if not self.path.startswith("/matrix?"):
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
    assert any(f"q%5B%5D%5Bpacticipant%5D=payments&q%5B%5D%5Bversion%5D={version}" in p for p in asked), asked
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
