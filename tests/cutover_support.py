"""A whole stack for the cutover acceptance tests: real processes on PostgreSQL and Redis, shoppers
driving traffic through the strangler, and the checks that nothing was lost or doubled."""

from __future__ import annotations

import http.client
import importlib.util
import json
import os
import random
import shutil
import socket
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from tests.contracts_support import CONTRACTS_RECORD, contracts_verified
from tests.live_payments import free_port

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
if "stack" not in sys.modules:
    _spec = importlib.util.spec_from_file_location("stack", ROOT / "deploy" / "local" / "stack.py")
    sys.modules["stack"] = importlib.util.module_from_spec(_spec)  # dataclasses look their module up
    _spec.loader.exec_module(sys.modules["stack"])  # type: ignore[union-attr]
stack = sys.modules["stack"]

PG_URL = os.environ.get("ACCEPTANCE_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
SECRET = "acceptance-internal-secret"
ADMIN_TOKEN = "acceptance-admin-token"
PAYMENT_NS = uuid.UUID("6f1c3b2a-4d5e-5f60-8a1b-2c3d4e5f6a70")  # monolith.kernel.ids.PAYMENT_ID_NAMESPACE


def payment_id_for(key: str) -> str:
    return str(uuid.uuid5(PAYMENT_NS, key))


class RedisServer:
    """A Redis of the test's own (the machine's redis-server binary), so stopping it disturbs nothing
    else. It persists with an append-only file, as a broker that must not drop queued events does."""

    def __init__(self, workdir: Path) -> None:
        self.dir = workdir
        self.dir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.proc: subprocess.Popen | None = None
        binary = shutil.which("redis-server") or "/usr/bin/redis-server"
        self.cmd = [binary, "--bind", "127.0.0.1", "--port", str(self.port), "--dir", str(self.dir),
                    "--appendonly", "yes", "--appendfsync", "always", "--save", "", "--logfile", str(self.dir / "log")]

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.proc = subprocess.Popen(self.cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError(f"redis-server did not start on {self.port}: {(self.dir / 'log').read_text()[-500:]}")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()  # graceful: flushes the append-only file
            self.proc.wait(timeout=10)

    def client(self) -> Any:
        import redis

        return redis.Redis.from_url(self.url, socket_connect_timeout=2, socket_timeout=5)


def _pg(dbname: str) -> str:
    return urlunsplit(urlsplit(PG_URL)._replace(path=f"/{dbname}"))


def pg_create(names: list[str]) -> list[str]:
    import psycopg

    try:
        with psycopg.connect(PG_URL, autocommit=True, connect_timeout=5) as conn:
            for name in names:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
                conn.execute(f'CREATE DATABASE "{name}"')
    except psycopg.OperationalError as exc:
        raise AssertionError(f"the cutover acceptance tests need PostgreSQL at {PG_URL}: {exc}") from exc
    return [_pg(n) for n in names]


def pg_drop(names: list[str]) -> None:
    import psycopg

    with psycopg.connect(PG_URL, autocommit=True) as conn:
        for name in names:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def pg_scalar(url: str, sql: str, *params: Any) -> Any:
    import psycopg

    with psycopg.connect(url) as conn:
        return conn.execute(sql, params).fetchone()[0]


@dataclass
class Stack:
    var: Path
    ports: Any
    routes: Path
    mono_url: str
    pay_url: str
    redis: RedisServer
    procs: list[Any] = field(default_factory=list)
    cat_url: str | None = None  # the catalog service's database, when the stack runs it

    @property
    def mono_env(self) -> dict[str, str]:
        return {"DATABASE_URL": self.mono_url, "CELERY_BROKER_URL": self.redis.url, "CELERY_VISIBILITY_TIMEOUT": "15"}

    @property
    def pay_env(self) -> dict[str, str]:
        return {"DATABASE_URL": self.pay_url, "CELERY_BROKER_URL": self.redis.url, "CELERY_VISIBILITY_TIMEOUT": "15"}

    @property
    def extra(self) -> dict[str, dict[str, str]]:
        catalog = {"catalog": {**self.pay_env, "DATABASE_URL": self.cat_url}} if self.cat_url else {}
        return {"monolith": self.mono_env, "payments": self.pay_env, **catalog}

    @property
    def db_urls(self) -> list[str]:
        return [self.mono_url, self.pay_url, *([self.cat_url] if self.cat_url else [])]

    def base_env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "CELERY_BROKER_URL", "REDIS_URL"}}
        env["INTERNAL_AUTH_SECRET"] = SECRET
        return env

    def proc(self, name: str) -> Any:
        return next(p for p in self.procs if p.name == name)

    # -- control -------------------------------------------------------------------------
    def flip(self, mode: str, weight: int | None = None, *, route: str = "payments") -> None:
        cmd = [str(BIN / "strangler"), "--config", str(self.routes), "set", route, "--mode", mode,
               "--reason", f"acceptance: {mode}", "--actor", "acceptance-test"]
        if weight is not None:
            cmd += ["--weight", str(weight)]
        subprocess.run(cmd, cwd=ROOT, env=self.base_env(), check=True, capture_output=True, timeout=30)

    def kill(self, name: str) -> None:
        proc = self.proc(name)
        os.killpg(proc.popen.pid, 9)
        proc.popen.wait(timeout=10)

    def restart(self, name: str) -> None:
        proc = self.proc(name)
        stack.start([proc], self.base_env())
        if proc.health:
            assert stack.wait_healthy(proc.health, 60), f"{name} did not come back"

    def manage(self, *argv: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        return subprocess.run([str(BIN / "python"), "manage.py", *argv], cwd=ROOT, capture_output=True, text=True,
                              env={**self.base_env(), "VAR_DIR": str(self.var), **self.mono_env}, timeout=timeout)

    def reconcile(self) -> subprocess.CompletedProcess[str]:
        return self.manage("strangler_reconcile", "payments", "--target", f"http://127.0.0.1:{self.ports.payments}")

    def pending_outbox(self) -> int:
        sql = "SELECT count(*) FROM strangler_outbox_outboxmessage WHERE published_at IS NULL"
        return sum(pg_scalar(url, sql) for url in self.db_urls)

    def drain(self, seconds: float = 90) -> None:
        """Until both outboxes are relayed and both queues are empty and acked (events consumed)."""
        client = self.redis.client()
        deadline = time.monotonic() + seconds
        quiet_since = None
        while time.monotonic() < deadline:
            try:
                busy = (self.pending_outbox() + sum(client.llen(q) for q in ("monolith", "payments", "catalog"))
                        + client.hlen("unacked"))
            except Exception:  # noqa: BLE001 - Redis still coming back
                busy = 1
            if busy == 0:
                quiet_since = quiet_since or time.monotonic()
                if time.monotonic() - quiet_since > 2:
                    return
            else:
                quiet_since = None
            time.sleep(0.5)
        raise AssertionError(f"events did not drain in {seconds} s: outbox {self.pending_outbox()} pending")

    def internal(self, port: int, path: str) -> tuple[int, Any]:
        from strangler.proxy.credentials import credential_mint

        audience = "monolith" if port == self.ports.monolith else "payments-service"  # whom the credential is for
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        try:
            conn.request("GET", path, headers={"X-Internal-Credential": credential_mint(SECRET, "monolith",
                                                                                       audience=audience)})
            response = conn.getresponse()
            return response.status, json.loads(response.read() or b"null")
        finally:
            conn.close()


# The run cuts payments over: the stack's other services (catalog) would only share its two cores.
SERVICES = [svc for svc in stack.SERVICES if svc.name == "payments"]


def start_stack(var: Path, tag: str, *, services: list[Any] = SERVICES) -> Stack:
    """``services``: the extracted services it runs (payments; catalog too for the catalog cut)."""
    with_catalog = any(svc.name == "catalog" for svc in services)
    names = [f"strangler_acc_{tag}_mono", f"strangler_acc_{tag}_pay", f"strangler_acc_{tag}_routes",
             *([f"strangler_acc_{tag}_cat"] if with_catalog else [])]
    mono_url, pay_url, routes_url, *cat_url = pg_create(names)
    redis = RedisServer(var / "redis")
    redis.start()
    ports = stack.free_ports()
    routes = stack.routes_for(ports=ports, store=routes_url, record=CONTRACTS_RECORD)
    routes_file = var / "routes.toml"
    routes_file.write_text(routes)
    for svc in services:  # the run flips their routes to canary and service: the gate must let it
        contracts_verified(service=svc.name)
    st = Stack(var=var, ports=ports, routes=routes_file, mono_url=mono_url, pay_url=pay_url, redis=redis,
               cat_url=cat_url[0] if cat_url else None)
    env = st.base_env()
    stack.migrate(var=var, env=env, extra=st.extra, services=services)
    seed = ("from monolith.catalog import interface as c; from monolith.kernel.money import Money; "
            "p = c.product_create(sku='LOAD-1', name='Load test widget', price=Money(1200, 'EUR')); "
            "c.stock_set(product_id=p.id, on_hand=1_000_000); print(p.id)")
    result = st.manage("shell", "-c", seed)
    assert result.returncode == 0, result.stderr
    st.product_id = result.stdout.strip().splitlines()[-1]  # type: ignore[attr-defined]
    st.procs = stack.processes(token=ADMIN_TOKEN, secret=SECRET, ports=ports, routes=routes_file, var=var,
                               extra=st.extra, embedded_broker=False, services=services)
    stack.start(st.procs, env)
    unhealthy = stack.wait_all_healthy(st.procs, seconds=60)
    if unhealthy is not None:
        stop_stack(st, names)
        raise AssertionError(f"{unhealthy.name} never answered {unhealthy.health}")
    st.db_names = names  # type: ignore[attr-defined]
    return st


def stop_stack(st: Stack, names: list[str]) -> None:
    stack.stop(st.procs)
    st.redis.stop()
    pg_drop(names)


# -- shoppers --------------------------------------------------------------------------------------
@dataclass
class Outcome:
    kind: str  # "charge" | "checkout" | "get" | "refund"
    key: str  # the client's intent: its Idempotency-Key (or the payment id for a read)
    status: int
    body: Any
    attempts: int = 1
    order_id: str | None = None
    payment_id: str | None = None


# How long a read or refund of a payment made on the other side may wait for the sync after a flip
# before it counts as failed. The sync is typically well under a second; this machine is shared.
SYNC_PATIENCE = 15.0


class Shopper(threading.Thread):
    """One user with a keep-alive connection through the proxy: orders and checks out, charges
    directly, reads and refunds its payments. `patient` shoppers retry 503/connection failures
    with the same Idempotency-Key, as the API asks clients to."""

    def __init__(self, port: int, email: str, product_id: str, stop: threading.Event, *, patient: bool = False,
                 seed: int = 0) -> None:
        super().__init__(daemon=True)
        self.port, self.product_id, self.stop_event, self.patient = port, product_id, stop, patient
        self.rng = random.Random(seed)
        self.outcomes: list[Outcome] = []
        self.failures: list[str] = []
        self.conn: http.client.HTTPConnection | None = None
        status, body = self.call("POST", "/api/v1/users/", {"email": email, "password": "load-pass-123",
                                                            "full_name": "Load Shopper"}, retry=False)
        assert status == 201, body
        self.user_id = body["id"]
        status, body = self.call("POST", "/api/v1/users/token/", {"email": email, "password": "load-pass-123"},
                                 retry=False)
        assert status == 200, body
        self.token = body["token"]
        # (payment id, refundable, when) of direct charges. Reads and refunds pick payments older
        # than the sync lag: right after a flip, a payment made a moment ago on the other side may
        # not have reached this side yet (see the README on cutover guarantees).
        self.captured: list[tuple[str, int, float]] = []
        self.sync_waits: list[float] = []  # seconds a read or refund waited for the sync (not_there_yet)

    def call(self, method: str, path: str, body: Any = None, key: str | None = None, retry: bool = True,
             ) -> tuple[int, Any]:
        headers = {"Content-Type": "application/json"}
        if getattr(self, "token", None):
            headers["Authorization"] = f"Token {self.token}"
        if key:
            headers["Idempotency-Key"] = key
        payload = json.dumps(body) if body is not None else None
        attempts = 0
        while True:
            attempts += 1
            self.last_attempts = attempts
            try:
                if self.conn is None:
                    self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
                self.conn.request(method, path, body=payload, headers=headers)
                response = self.conn.getresponse()
                data = response.read()
                status, retry_after = response.status, response.getheader("Retry-After")
            except (OSError, http.client.HTTPException) as exc:
                self.conn.close()
                self.conn = None
                if not (retry and self.patient) or attempts > 60:
                    return 599, {"error": {"code": "connection", "message": repr(exc)}}
                time.sleep(0.5)
                continue
            parsed = json.loads(data) if data else None
            # A patient client retries what the Idempotency-Key makes safe to retry: 503 (after
            # Retry-After), 502/504, whose outcome it cannot know (the service died mid-request),
            # and 409 request_in_progress (the first attempt's claim, held until it goes stale when
            # the process running it was killed).
            in_progress = status == 409 and isinstance(parsed, dict) and \
                parsed.get("error", {}).get("code") == "request_in_progress"
            if (status in (502, 503, 504) or in_progress) and retry and self.patient and attempts <= 60:
                if status == 503:
                    assert retry_after is not None, f"503 without Retry-After on {method} {path}"
                time.sleep(min(float(retry_after or 0.5), 1.0))
                continue
            return status, parsed

    def record(self, outcome: Outcome, ok: set[int]) -> Outcome:
        outcome.attempts = self.last_attempts
        self.outcomes.append(outcome)
        if outcome.status not in ok:
            self.failures.append(f"{outcome.kind} {outcome.key}: {outcome.status} {outcome.body}")
        return outcome

    def run(self) -> None:
        while not self.stop_event.is_set():
            roll = self.rng.random()
            if roll < 0.4:
                self.checkout()
            elif roll < 0.7 or not self.settled():
                self.charge()
            elif roll < 0.95:
                self.read()
            else:
                self.refund()
        if self.conn:
            self.conn.close()

    def settled(self) -> list[int]:
        horizon = time.monotonic() - 2.0
        return [i for i, (_, _, at) in enumerate(self.captured) if at < horizon]

    def place_order(self, product_id: str, quantity: int) -> tuple[str, int, Any] | None:
        """Create an order and check it out (one card in ten is declined): (order id, the checkout's
        status and body), or None when the order was refused (recorded)."""
        key = str(uuid.uuid4())
        status, body = self.call("POST", "/api/v1/orders/", {"lines": [{"product_id": product_id, "quantity": quantity}]},
                                 key=key)
        if self.record(Outcome("order", key, status, body), {201}).status != 201:
            return None
        order_id = body["id"]
        card = "tok_chargeDeclined" if self.rng.random() < 0.1 else "tok_visa"
        status, body = self.call("POST", f"/api/v1/orders/{order_id}/checkout/", {"card_token": card},
                                 key=f"checkout-{order_id}")
        return order_id, status, body

    def checkout(self) -> None:
        placed = self.place_order(self.product_id, 1)
        if placed is None:
            return
        order_id, status, body = placed
        self.record(Outcome("checkout", f"orders.checkout:{order_id}", status, body, order_id=order_id,
                            payment_id=payment_id_for(f"orders.checkout:{order_id}")), {200, 402})

    def charge(self) -> None:
        # A charge is for one of the shopper's own orders (POST /api/v1/payments/ checks it).
        order_key = str(uuid.uuid4())
        status, body = self.call("POST", "/api/v1/orders/", {"lines": [{"product_id": self.product_id, "quantity": 1}]},
                                 key=order_key)
        if self.record(Outcome("order", order_key, status, body), {201}).status != 201:
            return
        order_id = body["id"]
        key = str(uuid.uuid4())
        card = "tok_chargeDeclined" if self.rng.random() < 0.1 else "tok_visa"
        amount = self.rng.randint(100, 50_000)
        status, body = self.call("POST", "/api/v1/payments/", {"order_id": order_id, "amount_minor": amount,
                                                                "currency": "EUR", "card_token": card}, key=key)
        pid = payment_id_for(f"api:{self.user_id}:{key}")
        self.record(Outcome("charge", key, status, body, payment_id=pid), {201, 402})
        if status == 201:
            assert body["id"] == pid, (body, pid)
            self.captured.append((pid, amount, time.monotonic()))

    def not_there_yet(self, send) -> tuple[int, Any]:
        """``send()`` again while it answers payment_not_found, up to SYNC_PATIENCE: right after a
        flip, this user's side may not hold a payment made on the other side yet (the sync is
        asynchronous; the README's cutover guarantees). A payment that never arrives still fails."""
        started = time.monotonic()
        status, body = send()
        while (status == 404 and isinstance(body, dict) and body.get("error", {}).get("code") == "payment_not_found"
               and time.monotonic() - started < SYNC_PATIENCE):
            time.sleep(0.2)
            status, body = send()
        if time.monotonic() - started > 0.1:
            self.sync_waits.append(time.monotonic() - started)
        return status, body

    def read(self) -> None:
        pid, _, _ = self.captured[self.rng.choice(self.settled())]
        status, body = self.not_there_yet(lambda: self.call("GET", f"/api/v1/payments/{pid}/"))
        self.record(Outcome("get", pid, status, body, payment_id=pid), {200})

    def refund(self) -> None:
        index = self.rng.choice(self.settled())
        pid, refundable, at = self.captured[index]
        if refundable < 2:
            return self.read()
        amount = refundable // 2
        self.captured[index] = (pid, refundable - amount, at)
        key = str(uuid.uuid4())  # a 404 commits nothing: the key is free for the same request again
        status, body = self.not_there_yet(
            lambda: self.call("POST", f"/api/v1/payments/{pid}/refunds/", {"amount_minor": amount}, key=key))
        self.record(Outcome("refund", pid, status, body, payment_id=pid), {201})
        return None


def shoppers(st: Stack, count: int, stop: threading.Event, *, patient: bool = False) -> list[Shopper]:
    tag = uuid.uuid4().hex[:8]
    return [Shopper(st.ports.proxy, f"load-{tag}-{i}@example.com", st.product_id, stop,  # type: ignore[attr-defined]
                    patient=patient, seed=i) for i in range(count)]


def verify_no_loss_no_duplicates(st: Stack, crowd: list[Shopper]) -> dict[str, int]:
    """After the drain: every payment a client caused is in both stores, once, as the client was told."""
    outcomes = [o for s in crowd for o in s.outcomes]
    intents = {o.payment_id for o in outcomes if o.kind in ("charge", "checkout") and o.payment_id}
    for o in outcomes:
        if o.kind not in ("charge", "checkout"):
            continue
        for port in (st.ports.monolith, st.ports.payments):
            status, payment = st.internal(port, f"/internal/v1/payments/{o.payment_id}/")
            assert status == 200, f"payment {o.payment_id} ({o.kind} {o.key}) missing on :{port}: {payment}"
            expected = "captured" if o.status in (200, 201) else "failed"
            assert payment["status"] == expected, (o, payment)
    users = [uuid.UUID(s.user_id) for s in crowd]
    for url in (st.mono_url, st.pay_url):
        total = pg_scalar(url, "SELECT count(*) FROM payments_payment WHERE user_id = ANY(%s)", users)
        assert total == len(intents), f"{total} payments stored for {len(intents)} client intents ({url})"
    confirmed = [o.order_id for o in outcomes if o.kind == "checkout" and o.status == 200]
    mails = pg_scalar(st.mono_url, "SELECT count(*) FROM notifications_notification "
                                   "WHERE kind = 'order_confirmed' AND user_id = ANY(%s)", users)
    assert mails == len(confirmed), f"{mails} confirmation mails for {len(confirmed)} confirmed orders"
    return {"requests": len(outcomes) + sum(o.attempts - 1 for o in outcomes), "payments": len(intents),
            "confirmed_orders": len(confirmed)}


def run_crowd(crowd: list[Shopper], stop: threading.Event, schedule, *, join_timeout: float = 60) -> float:
    """Start the shoppers, run the schedule's steps in order, then stop and join them; the seconds it took."""
    started = time.monotonic()
    for shopper in crowd:
        shopper.start()
    try:
        for step in schedule:
            step()
    finally:
        stop.set()
        for shopper in crowd:
            shopper.join(timeout=join_timeout)
    return time.monotonic() - started
