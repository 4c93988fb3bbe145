"""The kit's ``strangler_backfill payments`` and ``strangler_reconcile payments`` against a live
target: the monolith's own gunicorn on a second, migrated SQLite database. The source is this
test's database."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
import urllib.request
import uuid
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import CommandError, call_command

from monolith.payments.tests.factories import idempotency_row, payment_row, payments_sync_import, refund_row
from strangler.django.extraction import client as sync_client
from strangler.django.extraction.models import BackfillCheckpoint
from strangler.django.idempotency.models import IdempotencyRecord
from strangler.testing import free_port as _free_port

ROOT = Path(__file__).resolve().parents[3]
BIN = Path(sys.executable).parent
pytestmark = pytest.mark.integration


class Target:
    def __init__(self, tmp_path: Path) -> None:
        self.db = tmp_path / "target.sqlite3"
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        drop = {"DATABASE_URL", "DEBUG", "SECRET_KEY", "CELERY_BROKER_URL", "REDIS_URL"}
        self.env = {k: v for k, v in os.environ.items() if k not in drop} | {
            "DJANGO_SETTINGS_MODULE": "monolith.config.settings", "DATABASE_URL": f"sqlite:///{self.db}",
            "VAR_DIR": str(tmp_path / "var"), "INTERNAL_AUTH_SECRET": settings.INTERNAL_AUTH_SECRET,
            "LOG_LEVEL": "WARNING",
        }
        self.log = tmp_path / "gunicorn.log"
        self.process: subprocess.Popen | None = None
        subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, env=self.env, check=True, timeout=120)

    def start(self) -> None:
        self.process = subprocess.Popen(
            [str(BIN / "gunicorn"), "monolith.config.wsgi", "-b", f"127.0.0.1:{self.port}", "-w", "1",
             "--timeout", "60"], cwd=ROOT, env=self.env, stdout=self.log.open("a"), stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                urllib.request.urlopen(f"{self.url}/healthz", timeout=1).read()
                return
            except OSError:
                assert self.process.poll() is None, self.log.read_text()
                time.sleep(0.1)
        pytest.fail(f"gunicorn did not start:\n{self.log.read_text()}")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)

    def sql(self, statement: str, params: tuple = ()) -> list[tuple]:
        with sqlite3.connect(self.db) as conn:
            return conn.execute(statement, params).fetchall()


@pytest.fixture
def target(tmp_path):
    running = Target(tmp_path)
    running.start()
    try:
        yield running
    finally:
        running.stop()


def _source(n: int) -> list[dict]:
    payments = [payment_row(f"orders.checkout:{i}") for i in range(n)]
    refunds = []
    for i in range(0, n, 7):
        payments[i] |= {"refunded_minor": 500, "revision": 3}
        refunds.append(refund_row(payments[i], f"refund:{i}", 500))
    records = [idempotency_row(f"key-{i}") for i in range(5)]
    payments_sync_import(payments=payments, refunds=refunds, idempotency_records=records)
    # Neither pending records nor other contexts' records are copied.
    IdempotencyRecord.objects.create(scope="payments.charge:u1", key="pending", fingerprint="f", state="pending",
                                     created_at="2026-01-01T00:00:00Z", locked_at="2026-01-01T00:00:00Z")
    IdempotencyRecord.objects.create(scope="orders.place:u1", key="x", fingerprint="f", state="completed",
                                     created_at="2026-01-01T00:00:00Z", locked_at="2026-01-01T00:00:00Z")
    return payments


def _reconcile(target, capsys, show=20) -> tuple[int, str]:
    try:
        call_command("strangler_reconcile", "payments", "--target", target.url, "--audience", "monolith", "--show", str(show))
        code = 0
    except SystemExit as exc:
        code = exc.code
    return code, capsys.readouterr().out


def test_backfill_copies_everything_and_reconcile_agrees(db, target, capsys):
    payments = _source(60)
    call_command("strangler_backfill", "payments", "--target", target.url, "--audience", "monolith", "--batch-size", "25")
    out = capsys.readouterr().out
    assert "60 payments, 9 refunds, 5 idempotency records copied" in out
    assert target.sql("select count(*) from payments_payment") == [(60,)]
    assert target.sql("select count(*) from payments_refund") == [(9,)]
    assert target.sql("select scope, key, state from strangler_idempotency_idempotencyrecord order by key")[0] == (
        "payments.charge:u1", "key-0", "completed")
    assert target.sql("select count(*) from strangler_idempotency_idempotencyrecord") == [(5,)]
    assert _reconcile(target, capsys)[0] == 0

    call_command("strangler_backfill", "payments", "--target", target.url, "--audience", "monolith")
    assert "already complete" in capsys.readouterr().out
    call_command("strangler_backfill", "payments", "--target", target.url, "--audience", "monolith", "--restart")  # harmless: upserts
    assert target.sql("select count(*) from payments_payment") == [(60,)]

    changed = payments[10]["id"]
    target.sql("update payments_payment set processor_ref = 'tampered' where id = ?", (uuid.UUID(changed).hex,))
    code, out = _reconcile(target, capsys)
    assert code == 1
    assert f"checksum differs: 1\n  {changed}" in out
    assert "conflicts recorded here: 0" in out and "dead letters here: 0" in out

    missing = payments[11]["id"]
    target.sql("delete from payments_payment where id = ?", (uuid.UUID(missing).hex,))
    code, out = _reconcile(target, capsys)
    assert code == 1 and f"missing on the target: 1\n  {missing}" in out


def test_an_interrupted_backfill_resumes_where_it_stopped(db, target, capsys, monkeypatch):
    _source(100)
    monkeypatch.setattr(sync_client, "BACKOFF_SECONDS", 0.01)
    real_import = sync_client.SyncTarget.import_batch
    sent: list[int] = []

    def import_then_die(self, body):
        if len(sent) == 3:
            target.stop()  # the target goes away mid-run
        answer = real_import(self, body)
        sent.append(len(body))
        return answer

    monkeypatch.setattr(sync_client.SyncTarget, "import_batch", import_then_die)
    with pytest.raises(CommandError, match="could not be reached"):  # one batch in flight: exact counts
        call_command("strangler_backfill", "payments", "--target", target.url, "--audience", "monolith", "--batch-size", "10", "--in-flight", "1")
    checkpoint = BackfillCheckpoint.objects.get()
    assert 0 < checkpoint.copied < 100
    assert target.sql("select count(*) from payments_payment") == [(30,)]

    target.start()
    monkeypatch.setattr(sync_client.SyncTarget, "import_batch", real_import)
    capsys.readouterr()
    call_command("strangler_backfill", "payments", "--target", target.url, "--audience", "monolith", "--batch-size", "10")
    out = capsys.readouterr().out
    assert "70 payments" in out  # only what was not acknowledged before
    assert target.sql("select count(*) from payments_payment") == [(100,)]
    assert _reconcile(target, capsys)[0] == 0


def test_reconcile_exits_2_when_the_target_is_unreachable(db, monkeypatch):
    monkeypatch.setattr(sync_client, "BACKOFF_SECONDS", 0.01)
    with pytest.raises(CommandError) as failed:
        call_command("strangler_reconcile", "payments", "--target", f"http://127.0.0.1:{_free_port()}")
    assert failed.value.returncode == 2


def test_backfill_names_a_refusing_target(db, target, monkeypatch):
    _source(3)
    monkeypatch.setattr(settings, "INTERNAL_AUTH_SECRET", "not-the-targets-secret")
    with pytest.raises(CommandError, match="refused the batch.*401"):
        call_command("strangler_backfill", "payments", "--target", target.url, "--audience", "monolith")


def test_the_generic_commands_take_the_context_name(db, target, capsys):
    _source(15)
    call_command("strangler_backfill", "payments", "--target", target.url, "--audience", "monolith", "--batch-size", "4")
    assert "15 payments, 3 refunds, 5 idempotency records copied" in capsys.readouterr().out
    call_command("strangler_reconcile", "payments", "--target", target.url, "--audience", "monolith")
    assert "identical: 15 payments compared" in capsys.readouterr().out
    with pytest.raises(Exception, match="no extraction 'orders'"):
        call_command("strangler_reconcile", "orders", "--target", target.url, "--audience", "monolith")
