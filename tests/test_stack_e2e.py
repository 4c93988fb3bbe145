"""What `make run` promises, end to end: the real stack (gunicorn monolith, Celery worker, outbox
relay, strangler proxy) on embedded defaults — a SQLite file and the filesystem broker — serves a
full checkout through the proxy, a declined card leaves stock as it was, and the mails go out."""

from __future__ import annotations

import http.client
import importlib.util
import json
import os
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from monolith.config.seed_demo import DEMO_EMAIL, DEMO_PASSWORD

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("stack", ROOT / "deploy" / "local" / "stack.py")
stack = importlib.util.module_from_spec(_spec)
sys.modules["stack"] = stack  # dataclasses look their module up while the file executes
_spec.loader.exec_module(stack)

pytestmark = pytest.mark.integration


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


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
    ports = stack.Ports(proxy=_free_port(), monolith=_free_port(), admin=_free_port())
    routes = (ROOT / "deploy" / "local" / "routes.toml").read_text()
    for old, new in (("127.0.0.1:8000", f"127.0.0.1:{ports.proxy}"), ("127.0.0.1:8001", f"127.0.0.1:{ports.monolith}"),
                     ("127.0.0.1:8100", f"127.0.0.1:{ports.admin}"), ("sqlite:///var/strangler.db", f"sqlite:///{var}/strangler.db")):
        assert old in routes, f"{old} no longer in deploy/local/routes.toml"
        routes = routes.replace(old, new)
    routes_file = var / "routes.toml"
    routes_file.write_text(routes)

    # make run's defaults: no database URL, no broker URL; everything under VAR_DIR.
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "CELERY_BROKER_URL", "REDIS_URL"}}
    env["VAR_DIR"] = str(var)
    for step in (["manage.py", "migrate", "--noinput", "-v0"], ["-m", "monolith.config.seed_demo"]):
        subprocess.run([sys.executable, *step], cwd=ROOT, env=env, check=True, timeout=180)
    procs = stack.processes(token="e2e-admin-token", ports=ports, routes=routes_file)
    stack.start(procs, env)
    try:
        unhealthy = stack.wait_all_healthy(procs, seconds=60)
        assert unhealthy is None, f"{unhealthy.name} never answered {unhealthy.health}"
        yield ports, var
    finally:
        stack.stop(procs)


def test_checkout_through_the_proxy_on_embedded_defaults(running_stack):
    ports, var = running_stack
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
    deadline = time.monotonic() + 30
    mails: list[str] = []
    while time.monotonic() < deadline:
        mails = [p.read_text() for p in (var / "mail").glob("*")] if (var / "mail").exists() else []
        if len(mails) >= 2:
            break
        time.sleep(0.3)
    subjects = sorted(line for mail in mails for line in mail.splitlines() if line.startswith("Subject:"))
    assert subjects == [f"Subject: Payment for order {declined} failed", f"Subject: Your order {paid} is confirmed"]
