"""What `make run` promises, end to end: the real stack (gunicorn monolith, payments and catalog
services, their Celery workers and outbox relays, the strangler proxy) on embedded defaults — a SQLite file
per service and the embedded Redis broker, under supervisord as `make run` starts it — serves a
full checkout through the proxy, a declined card leaves stock as it was, the mails go out,
`deploy/cutover.py` walks payments over to the service with every check passing, and a worker
killed mid-run is restarted and its events still arrive."""

from __future__ import annotations

import email
import http.client
import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import psutil
import pytest
import redis
from django.conf import settings

from monolith.config.seed_demo import DEMO_EMAIL, DEMO_PASSWORD
from monolith.notifications.services import CLAIM_SECONDS
from tests.contracts_support import CONTRACTS_RECORD
from tests.cutover_support import stack

ROOT = Path(__file__).resolve().parents[1]
ADMIN_TOKEN = "e2e-admin-token"

# db_independent: the `make run` stack runs on its own SQLite files; the PostgreSQL pass skips it.
pytestmark = [pytest.mark.db_independent, pytest.mark.integration]



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
    ports = stack.free_ports()
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
    supervisor = stack.supervise.start(procs, var=var, env=env, output=subprocess.DEVNULL)
    try:
        unhealthy = stack.wait_all_healthy(procs, seconds=60)
        assert unhealthy is None, f"{unhealthy.name} never answered {unhealthy.health}"
        yield ports, var, routes_file, env
    finally:
        stack.supervise.stop(supervisor)


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

    # The outbox relay and the worker deliver both mails through the embedded broker.
    deadline = time.monotonic() + 60
    mails: list[str] = []
    while time.monotonic() < deadline:
        mails = [p.read_text() for p in (var / "mail").glob("*")] if (var / "mail").exists() else []
        if len(mails) >= 2:
            break
        time.sleep(0.3)
    subjects = sorted(line for mail in mails for line in mail.splitlines() if line.startswith("Subject:"))
    assert subjects == [f"Subject: Payment for order {declined} failed", f"Subject: Your order {paid} is confirmed"]


def test_the_dashboard_counts_each_services_conflicts_and_dead_letters(running_stack):
    """The proxy's admin side polls every service's kit status (the monolith, payments, catalog) with
    its own credential: the dashboard data and /metrics carry their counts (none here: nothing
    conflicted, nothing died)."""
    ports, _, _, _ = running_stack

    def admin_get(path: str) -> tuple[int, str]:
        conn = http.client.HTTPConnection("127.0.0.1", ports.admin, timeout=10)
        try:
            conn.request("GET", path, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})
            response = conn.getresponse()
            return response.status, response.read().decode()
        finally:
            conn.close()

    deadline = time.monotonic() + 60  # polls every 10 s; a poll the busy machine let time out is retried
    while True:
        status, text = admin_get("/dashboard/data")
        assert status == 200, text
        backends = json.loads(text)["backends"]
        answered = set(backends) == {"monolith", "payments", "catalog"} and all(b["ok"] for b in backends.values())
        if answered or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    for name in ("monolith", "payments", "catalog"):
        assert backends[name]["ok"], backends[name]
        assert backends[name]["dead_letters"] == 0 and backends[name]["conflicts"] == {}, backends[name]
    status, metrics = admin_get("/metrics")
    assert status == 200 and 'strangler_backend_status_up{target="payments"} 1' in metrics
    assert 'strangler_backend_dead_letters{target="monolith"} 0' in metrics
    assert 'strangler_backend_status_up{target="catalog"} 1' in metrics


def test_the_catalog_service_takes_the_backfill_and_serves_the_same_products(running_stack):
    """The seed writes the monolith only; the sync and the backfill bring the products to the stack's
    catalog service, reconcile finds both stores identical, and the service answers the proxy's
    credential with the products the monolith serves (stock apart: it stays with its owner)."""
    from strangler.proxy.credentials import credential_mint

    ports, _, _, env = running_stack
    target = f"http://127.0.0.1:{ports.catalog}"
    for command in ("strangler_backfill", "strangler_reconcile"):
        done = subprocess.run([sys.executable, "manage.py", command, "catalog", "--target", target], cwd=ROOT, env=env,
                              capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stdout + done.stderr
    assert "identical" in done.stdout, done.stdout
    conn = http.client.HTTPConnection("127.0.0.1", ports.catalog, timeout=30)
    try:
        credential = credential_mint(env["INTERNAL_AUTH_SECRET"], "strangler", audience="catalog-service")
        conn.request("GET", "/api/v1/products/", headers={"X-Internal-Credential": credential})
        response = conn.getresponse()
        served = json.loads(response.read())
    finally:
        conn.close()
    assert response.status == 200, served
    status, monolith = Client(ports.proxy).call("GET", "/api/v1/products/")  # the catalog route: monolith
    assert status == 200 and monolith

    def same(products: list[dict]) -> list[tuple]:
        return sorted((p["id"], p["sku"], p["name"], p["price_minor"], p["currency"]) for p in products)

    assert same(served) == same(monolith)


def test_cutover_script_walks_payments_to_the_service_on_embedded_defaults(running_stack):
    """backfill -> shadow -> canary 50% -> service, each step judged by the proxy's rollout controller,
    with light traffic running."""
    ports, var, routes_file, env = running_stack
    client = Client(ports.proxy)
    _, body = client.call("POST", "/api/v1/users/token/", {"email": DEMO_EMAIL, "password": DEMO_PASSWORD})
    client.token = body["token"]
    made: list[str] = []
    made_at: list[float] = []
    errors: list[tuple[int, dict]] = []
    stop = threading.Event()

    _, products = client.call("GET", "/api/v1/products/")
    product_id = products[0]["id"]

    def traffic() -> None:
        while not stop.is_set():
            # A charge is for one of the caller's own orders (POST /api/v1/payments/ checks it).
            status, body = client.call("POST", "/api/v1/orders/", {"lines": [{"product_id": product_id, "quantity": 1}]},
                                       key=str(uuid.uuid4()))
            if status != 201:
                errors.append((status, body))
                continue
            status, body = client.call("POST", "/api/v1/payments/", {"order_id": body["id"], "amount_minor": 700,
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
            time.sleep(0.25)  # a few payments a second, beside the rest of the suite on two cores

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
             "--plan", "shadow,canary:50,service", "--window", "3", "--settle", "60", "--max-diff-share", "0.2",
             # One shopper is one canary cohort (its token): at 50 % it may well stay on the monolith, so
             # the service would never see a request to judge. No minimum: each step is judged on what came.
             "--min-requests", "0", "--timeout", "240"],
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
    # The rollout made three flips: its first step (by the cutover), then two advances by the controller.
    assert history.count("rollout #1") == 3, history
    assert history.count("rollout-controller@") == 2, history


def _confirmation_messages(var: Path) -> list[tuple[str, str]]:
    """(order id, Message-ID) of every confirmation mail the stack wrote (Django's file backend puts
    one or more messages in a file, each followed by a line of dashes)."""
    folder = var / "mail"
    texts = (chunk for mail in folder.glob("*") for chunk in mail.read_text().split("-" * 79)) if folder.exists() else ()
    messages = (email.message_from_string(text.strip()) for text in texts if text.strip())
    return [(str(m["Subject"]).split()[2], str(m["Message-ID"])) for m in messages
            if str(m["Subject"]).startswith("Your order ") and str(m["Subject"]).endswith("confirmed")]


def _resend_sweep_seconds() -> float:
    return settings.CELERY_BEAT_SCHEDULE["resend-failed-mails"]["schedule"]


def _confirmation_mails(var: Path) -> list[str]:
    return [order for order, _ in _confirmation_messages(var)]


def _held_by_worker(broker: redis.Redis, queue: str) -> set[str]:
    """Delivery tags of messages a worker of `queue` has taken but not acked (kombu keeps them in
    the `unacked` hash, with their routing key, until the ack; a dead worker's come back later)."""
    return {tag.decode() for tag, raw in broker.hgetall("unacked").items() if json.loads(raw)[2] == queue}


def _beats(app: str, var: Path) -> list[str]:
    """Command lines of the running Celery beats of `app` in the stack under `var` (its schedule
    file is there): a `celery beat` process, or a worker started with an embedded one (-B, whose
    beat child has the worker's command line)."""
    found = []
    for proc in psutil.process_iter(["cmdline"]):
        argv = proc.info["cmdline"] or []
        if app in argv and ("beat" in argv or "-B" in argv) and str(var) in " ".join(argv):
            found.append(" ".join(argv))
    return found


def _running_pid(var: Path, name: str, *, other_than: int, seconds: float = 60) -> int:
    """The pid of `name` under the stack's supervisord, once it is not `other_than` (a restart)."""
    deadline = time.monotonic() + seconds
    while (pid := stack.supervise.pid(var, name)) in (0, other_than):
        assert time.monotonic() < deadline, f"{name} did not come back"
        time.sleep(0.2)
    return pid


def test_a_worker_killed_mid_run_is_restarted_and_its_events_arrive(running_stack):
    """SIGKILL the monolith's worker while it holds events: supervisord restarts it and says so, and
    every confirmed order still gets its one confirmation mail (the broker hands the dead worker's
    unacked messages out again after the visibility timeout, and a live worker's too if it held them
    longer; the inbox and the mail's claim skip any duplicate). A mail whose send the kill cut short
    is finished by the resend sweep once its claim runs out, as the same message again."""
    ports, var, _, _ = running_stack
    client = Client(ports.proxy)
    _, body = client.call("POST", "/api/v1/users/token/", {"email": DEMO_EMAIL, "password": DEMO_PASSWORD})
    client.token = body["token"]
    _, products = client.call("GET", "/api/v1/products/")
    product = max(products, key=lambda p: p["available"])
    confirmed: list[str] = []
    errors: list[tuple[int, dict]] = []
    stop = threading.Event()

    def shop() -> None:
        while not stop.is_set():
            status, body = client.call("POST", "/api/v1/orders/", {"lines": [{"product_id": product["id"], "quantity": 1}]},
                                       key=str(uuid.uuid4()))
            if status != 201:
                errors.append((status, body))
                continue
            status, body = client.call("POST", f"/api/v1/orders/{body['id']}/checkout/", {"card_token": "tok_visa"},
                                       key=f"kill-{body['id']}")
            (confirmed.append(body["id"]) if status == 200 else errors.append((status, body)))

    broker = redis.Redis(port=ports.broker, socket_timeout=5)
    shopper = threading.Thread(target=shop, daemon=True)
    shopper.start()
    held: set[str] = set()  # what the killed worker had taken and not acked when it died
    killed = 0
    try:
        deadline = time.monotonic() + 120
        while not held and time.monotonic() < deadline:
            worker = _running_pid(var, "worker", other_than=killed)
            while not _held_by_worker(broker, "monolith") and time.monotonic() < deadline:
                pass  # mid-run: kill while the worker holds events
            os.kill(worker, signal.SIGKILL)  # the worker alone, as when it crashes or runs out of memory
            killed, killed_at = worker, time.monotonic()
            # Read after the kill, before its successor starts: exactly what the dead worker held
            # (it may have acked what it held a moment earlier; then kill its successor instead).
            held = _held_by_worker(broker, "monolith")
        assert held, "no kill in 120 s of checkouts caught the worker holding an event"
        time.sleep(3)  # checkouts go on while the worker is down and coming back
    finally:
        stop.set()
        shopper.join(timeout=60)
    assert not errors, errors[:3]

    _running_pid(var, "worker", other_than=killed)  # supervisord restarted it
    log = (var / "log" / "supervisord.log").read_text()
    assert "exited: worker (terminated by SIGKILL; not expected)" in log, log[-2000:]
    # One scheduler of the periodic sweeps, as before: the dead worker left none behind and its
    # successor started no second one.
    assert len(_beats("monolith.config", var)) == 1, _beats("monolith.config", var)

    def delivered() -> bool:
        """Every mail out, and what the dead worker held handed out again and acked: no longer
        unacked, and nothing left in the queue it would be waiting in."""
        return (set(confirmed) <= set(_confirmation_mails(var)) and not held & _held_by_worker(broker, "monolith")
                and broker.llen("monolith") == 0)

    # The broker hands unacked messages out again once older than the visibility timeout; kombu
    # looks for them when a worker starts and about every 100 s after. A mail the kill cut short
    # between its claim and its send waits for the claim to run out and the next resend sweep.
    patience = max(stack.EMBEDDED_VISIBILITY_TIMEOUT + 100, CLAIM_SECONDS + _resend_sweep_seconds() + 30)
    while time.monotonic() < killed_at + patience and not delivered():
        time.sleep(0.5)
    messages = _confirmation_messages(var)
    assert {order: len({mid for o, mid in messages if o == order}) for order in confirmed} == dict.fromkeys(confirmed, 1)
    repeated = {order for order, _ in messages if [o for o, _ in messages].count(order) > 1}
    # Only a send the kill cut short may go out twice, as the same message, and only once the
    # sweep took it up again (its claim ran out, CLAIM_SECONDS after the kill).
    assert len(repeated) <= len(held) and (not repeated or time.monotonic() > killed_at + CLAIM_SECONDS), repeated
    assert not held & _held_by_worker(broker, "monolith"), "what the dead worker held was never taken and acked"
    assert broker.llen("monolith") == 0
    print(f"[worker kill] {len(confirmed)} orders, {len(held)} events held by the killed worker; all delivered "
          f"{time.monotonic() - killed_at:.0f} s after the kill")
