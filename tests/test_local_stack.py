"""The local stack's process control (deploy/local/stack.py) that `make run`, the acceptance run and
the e2e tests rely on: a stack is healthy only when its own processes answer."""

from __future__ import annotations

import http.server
import sys
import threading

import pytest

from tests.cutover_support import stack

# db_independent: the local process supervisor only; the PostgreSQL pass skips it.
pytestmark = pytest.mark.db_independent


@pytest.fixture
def someone_else_answering():
    """A server answering 200 on a port: the process the stack meant to start there is not it."""
    class Ok(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (http.server's name)
            self.send_response(200)
            self.end_headers()

        def log_message(self, *_args) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Ok)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/healthz"
    server.shutdown()
    server.server_close()


def test_a_process_that_exited_is_unhealthy_even_when_its_health_url_answers(someone_else_answering):
    # What CI saw: the proxy was given the monolith's port, could not bind and exited; the monolith
    # answered the proxy's health URL and the test ran against the wrong process.
    crashed = stack.Proc("proxy", [sys.executable, "-c", "raise SystemExit(3)"], health=someone_else_answering)
    stack.start([crashed], env={})
    crashed.popen.wait(timeout=30)
    assert stack.wait_all_healthy([crashed], seconds=5) is crashed


def test_a_running_process_whose_url_answers_is_healthy(someone_else_answering):
    running = stack.Proc("sleeper", [sys.executable, "-c", "import time; time.sleep(60)"], health=someone_else_answering)
    stack.start([running], env={})
    try:
        assert stack.wait_all_healthy([running], seconds=5) is None
    finally:
        stack.stop([running])


def test_a_stack_is_given_distinct_ports_every_time():
    seen: set[int] = set()
    for _ in range(100):
        ports = stack.free_ports()
        drawn = [ports.proxy, ports.monolith, ports.payments, ports.catalog, ports.admin, ports.broker]
        assert len(set(drawn)) == len(drawn), ports
        seen.update(drawn)
    assert len(seen) == 600  # nor is a port handed to two stacks of one test session


def test_each_service_runs_web_worker_beat_and_relay_on_its_own_database_queue_and_port(tmp_path):
    """Every extracted service of `make run` (payments, catalog) gets the same four processes from its
    one description, in its own folder, with its own VAR_DIR (so its own SQLite file), its own queue,
    and the port the route table's target names; the monolith is told where each service is."""
    from strangler.proxy.config import load_config

    table = load_config(stack.ROUTES, env={"INTERNAL_AUTH_SECRET": "s"}).table
    procs = {p.name: p for p in stack.processes(token="t", secret="s", var=tmp_path)}
    assert [s.name for s in stack.SERVICES] == ["payments", "catalog"]
    for svc in stack.SERVICES:
        web, worker, beat, relay = (procs[f"{svc.name}{suffix}"] for suffix in ("", "-worker", "-beat", "-relay"))
        assert {p.cwd for p in (web, worker, beat, relay)} == {stack.ROOT / "extracted" / svc.name}
        assert {p.env["VAR_DIR"] for p in (web, worker, beat, relay)} == {str(tmp_path / svc.name)}
        assert web.env["DJANGO_SETTINGS_MODULE"] == f"{svc.project}.settings"
        assert web.env["CELERY_QUEUE"] == svc.name and worker.cmd[worker.cmd.index("-Q") + 1] == svc.name
        assert web.cmd[web.cmd.index("-b") + 1] == f"127.0.0.1:{table.targets[svc.name].port}"
        assert beat.cmd[beat.cmd.index("beat") - 2:beat.cmd.index("beat")] == ["-A", svc.project]
        assert relay.cmd[-2:] == ["relay_outbox", "--loop"]
        assert procs["monolith"].env[f"{svc.name.upper()}_SERVICE_URL"] == f"http://{table.targets[svc.name].host}:" \
                                                                          f"{table.targets[svc.name].port}"
        assert procs["monolith"].env[f"{svc.name.upper()}_SYNC_QUEUES"] == svc.name  # its snapshots reach it
    assert len({p.env["VAR_DIR"] for p in procs.values() if "VAR_DIR" in p.env}) == 3  # monolith + two services
    # The monolith's catalog calls follow the stock, which the catalog cutover's handover moves.
    assert procs["monolith"].env["CATALOG_IMPL"] == "owner" and procs["monolith"].env["PAYMENTS_IMPL"] == "follow"
    assert "CATALOG_STOCK_CUSTODY" not in procs["catalog"].env  # the service starts on standby (its default)
    catalog = next(r for r in table.routes if r.name == "catalog")
    assert (catalog.prefix, catalog.service, catalog.state.mode.value) == ("/api/v1/products", "catalog", "monolith")
    assert table.targets["catalog"].credential_audience == "catalog-service"
    assert {"available", "*.available"} <= set(catalog.shadow.ignore_paths)
    assert (catalog.cohort.source, catalog.cohort.name) == ("header", "authorization")


def test_a_test_stack_moves_every_service_to_its_own_ports(tmp_path):
    ports = stack.free_ports()
    text = stack.routes_for(ports=ports, store=f"sqlite:///{tmp_path}/s.db")
    for svc in stack.SERVICES:
        assert f'url = "http://127.0.0.1:{svc.port(ports)}"' in text
        assert f"127.0.0.1:{svc.port(stack.DEFAULT_PORTS)}" not in text


@pytest.mark.timeout(300)
def test_migrate_gives_the_catalog_service_its_own_empty_database(tmp_path):
    """`make migrate` migrates the catalog service's SQLite file under var/catalog; the seed and the
    monolith never write there (the backfill fills it)."""
    import os
    import sqlite3

    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "CELERY_BROKER_URL", "REDIS_URL"}}
    stack.migrate(var=tmp_path, env=env, services=[s for s in stack.SERVICES if s.name == "catalog"])
    with sqlite3.connect(tmp_path / "catalog" / "catalog.sqlite3") as db:
        tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        assert {"catalog_product", "catalog_stocklevel", "strangler_outbox_outboxmessage"} <= tables
        assert db.execute("SELECT count(*) FROM catalog_product").fetchone() == (0,)
    assert (tmp_path / "monolith.sqlite3").exists()  # the monolith's own file, apart


def test_a_stack_of_some_services_syncs_only_to_those(tmp_path):
    """A stack started without catalog (the payments acceptance run) sends no product snapshots to a
    queue nobody consumes."""
    payments = [svc for svc in stack.SERVICES if svc.name == "payments"]
    procs = {p.name: p for p in stack.processes(token="t", secret="s", var=tmp_path, services=payments)}
    assert not any(name.startswith("catalog") for name in procs)
    assert procs["monolith"].env["PAYMENTS_SYNC_QUEUES"] == "payments"
    assert "CATALOG_SYNC_QUEUES" not in procs["monolith"].env
