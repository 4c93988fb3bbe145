"""What `make run` promises, end to end: the real stack (gunicorn monolith and payments service,
their Celery workers and outbox relays, the strangler proxy) on embedded defaults — a SQLite file
per service and the filesystem broker — serves a full checkout through the proxy, a declined card
leaves stock as it was, the mails go out, and `deploy/cutover.py` walks payments over to the
service with every check passing."""

from __future__ import annotations

import http.client
import json
import os
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import pytest

from monolith.config.seed_demo import DEMO_EMAIL, DEMO_PASSWORD
from tests.contracts_support import CONTRACTS_RECORD
from tests.cutover_support import free_port, stack

ROOT = Path(__file__).resolve().parents[1]
ADMIN_TOKEN = "e2e-admin-token"

pytestmark = pytest.mark.integration



class Client:
    def __init__(self, port: int) -> None:
        self.port = port
        self.token: str | None = None

    def call(self, method: str, path: str, body: dict | None = None, key: str | None = None) -> tuple[int, dict]:
        headers = {"Content-Type": "application/json"}
        if self.token:
            headers["Authorization"] = f"Token {self.token}"
        if key:
            headers["Idempotency-Key"] = key
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            conn.request(method, path, body=json.dumps(body) if body is not None else None, headers=headers)
            response = conn.getresponse()
            return response.status, json.loads(response.read() or b"null")
        finally:
            conn.close()


@pytest.fixture(scope="module")
def running_stack(tmp_path_factory):
    var = tmp_path_factory.mktemp("stack-var")
    ports = stack.Ports(proxy=free_port(), monolith=free_port(), payments=free_port(), admin=free_port())
    routes = stack.routes_for(ports=ports, store=f"sqlite:///{var}/strangler.db", record=CONTRACTS_RECORD)
    routes_file = var / "routes.toml"
    routes_file.write_text(routes)

    # make run's defaults: no database URL, no broker URL; everything under VAR_DIR.
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "CELERY_BROKER_URL", "REDIS_URL"}}
    env["VAR_DIR"] = str(var)
    env["INTERNAL_AUTH_SECRET"] = "e2e-internal-secret"
    stack.migrate(var=var, env=env)
    subprocess.run([sys.executable, "-m", "monolith.config.seed_demo"], cwd=ROOT, env=env, check=True, timeout=180)
    procs = stack.processes(token=ADMIN_TOKEN, secret=env["INTERNAL_AUTH_SECRET"], ports=ports, routes=routes_file,
                            var=var)
    stack.start(procs, env)
    try:
        unhealthy = stack.wait_all_healthy(procs, seconds=60)
        assert unhealthy is None, f"{unhealthy.name} never answered {unhealthy.health}"
        yield ports, var, routes_file, env
    finally:
        stack.stop(procs)


def test_checkout_through_the_proxy_on_embedded_defaults(running_stack):
    ports, var, _, _ = running_stack
    client = Client(ports.proxy)
    status, body = client.call("POST", "/api/v1/users/token/",
                               {"email": DEMO_EMAIL, "password": DEMO_PASSWORD})
    assert status == 200, body
    client.token = body["token"]
    status, products = client.call("GET", "/api/v1/products/")
    assert status == 200 and products
    product = products[0]["id"]
    _, stock_before = client.call("GET", f"/api/v1/products/{product}/stock/")

    def order(quantity: int) -> str:
        status, body = client.call("POST", "/api/v1/orders/", {"lines": [{"product_id": product, "quantity": quantity}]},
                                   key=str(uuid.uuid4()))
        assert status == 201, body
        return body["id"]

    paid = order(1)
    status, body = client.call("POST", f"/api/v1/orders/{paid}/checkout/", {"card_token": "tok_visa"}, key=f"c-{paid}")
    assert (status, body["status"]) == (200, "confirmed"), body
    replay = client.call("POST", f"/api/v1/orders/{paid}/checkout/", {"card_token": "tok_visa"}, key=f"c-{paid}")
    assert replay == (status, body)

    declined = order(2)
    status, body = client.call("POST", f"/api/v1/orders/{declined}/checkout/", {"card_token": "tok_chargeDeclined"},
                               key=f"c-{declined}")
    assert (status, body["error"]["code"]) == (402, "card_declined"), body
    _, stock_after = client.call("GET", f"/api/v1/products/{product}/stock/")
    assert stock_after["on_hand"] == stock_before["on_hand"] - 1  # only the paid order took stock
    assert stock_after["reserved"] == stock_before["reserved"] == 0

    status, payments = client.call("GET", f"/api/v1/payments/?order_id={paid}")
    assert status == 200 and [p["status"] for p in payments] == ["captured"]

    # The outbox relay and the worker deliver both mails through the filesystem broker.
    deadline = time.monotonic() + 60
    mails: list[str] = []
    while time.monotonic() < deadline:
        mails = [p.read_text() for p in (var / "mail").glob("*")] if (var / "mail").exists() else []
        if len(mails) >= 2:
            break
        time.sleep(0.3)
    subjects = sorted(line for mail in mails for line in mail.splitlines() if line.startswith("Subject:"))
    assert subjects == [f"Subject: Payment for order {declined} failed", f"Subject: Your order {paid} is confirmed"]


def test_cutover_script_walks_payments_to_the_service_on_embedded_defaults(running_stack):
    """backfill -> shadow -> canary 50% -> service, each step checked, with light traffic running."""
    ports, var, routes_file, env = running_stack
    client = Client(ports.proxy)
    _, body = client.call("POST", "/api/v1/users/token/", {"email": DEMO_EMAIL, "password": DEMO_PASSWORD})
    client.token = body["token"]
    made: list[str] = []
    made_at: list[float] = []
    errors: list[tuple[int, dict]] = []
    stop = threading.Event()

    def traffic() -> None:
        while not stop.is_set():
            status, body = client.call("POST", "/api/v1/payments/", {"order_id": str(uuid.uuid4()), "amount_minor": 700,
                                                                     "currency": "EUR", "card_token": "tok_visa"},
                                       key=str(uuid.uuid4()))
            if status != 201:
                errors.append((status, body))
                continue
            made.append(body["id"])
            made_at.append(time.monotonic())
            # Read a payment made 5 s ago or more: older than the embedded broker's sync lag, even on
            # a machine loaded by the rest of the suite (shadow compares it on both sides).
            settled = [pid for pid, at in zip(made, made_at, strict=True) if at < time.monotonic() - 5]
            if settled:
                status, body = client.call("GET", f"/api/v1/payments/{settled[-1]}/")
                if status != 200:
                    errors.append((status, body))
            time.sleep(0.25)  # a few payments a second: the embedded filesystem broker is no load-test broker

    worker = threading.Thread(target=traffic, daemon=True)
    worker.start()
    # As after `make run`: the secret only in the stack's var/ file, not in the operator's environment.
    (var / "internal-auth-secret").write_text(env["INTERNAL_AUTH_SECRET"])
    operator_env = {k: v for k, v in env.items() if k != "INTERNAL_AUTH_SECRET"}
    try:
        result = subprocess.run(
            [sys.executable, "deploy/cutover.py", "--config", str(routes_file), "--admin", f"127.0.0.1:{ports.admin}",
             "--admin-token", ADMIN_TOKEN, "--service", f"http://127.0.0.1:{ports.payments}",
             "--internal-secret-file", str(var / "internal-auth-secret"),
             "--plan", "shadow,canary:50,service", "--window", "3", "--settle", "60", "--max-diff-share", "0.2"],
            cwd=ROOT, env=operator_env, capture_output=True, text=True, timeout=300)
    finally:
        stop.set()
        worker.join(timeout=30)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "summary: completed contracts, backfill, shadow, canary 50%, service" in result.stdout, result.stdout
    assert "contracts: can-i-deploy says yes for payments" in result.stdout, result.stdout
    assert not errors, errors[:3]
    assert len(made) > 10
    # Now the service answers, with the credential the proxy adds; the route's audit trail shows each step.
    status, body = client.call("GET", f"/api/v1/payments/{made[-1]}/")
    assert status == 200 and body["id"] == made[-1]
    history = subprocess.run([sys.executable, "-m", "strangler", "--config", str(routes_file), "history"],
                             cwd=ROOT, env=env, capture_output=True, text=True, timeout=30).stdout
    assert history.count("cutover step") == 3, history
