"""The kit in a project it has never seen: a fresh virtualenv into which the kit is installed with
the README's own command (read from "Use the kit in your own Django monolith", run in a copy of this
checkout), then `django-admin startproject` in a temp folder plus an app with one model, set up as
the README says. Nothing of the repository's .venv or source tree is on that project's path. An
event goes through the outbox, the relay, Redis and a real Celery worker; the model is backfilled
over HTTP into a second database, reconciles clean, and a same-revision write on the target is
recorded as a conflict.

Needs Redis: INTEGRATION_REDIS_URL (redis://127.0.0.1:6379/12 by default). The install reads pip's
cache; on a warm cache it takes well under a minute."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
import requests

from tests.live_payments import free_port

# db_independent: the throwaway project runs on SQLite files of its own; the PostgreSQL pass skips it.
pytestmark = [pytest.mark.db_independent, pytest.mark.integration, pytest.mark.timeout(480)]
FILES = Path(__file__).resolve().parent / "throwaway"  # the project's files, as text
REPO = Path(__file__).resolve().parents[2]
REDIS = os.environ.get("INTEGRATION_REDIS_URL", "redis://127.0.0.1:6379/12")
# The README's install line, e.g. pip install -c constraints.txt "strangler-kit[django] @ file:///path/to/strangler-kit"
README_INSTALL = re.compile(r"^pip install (.*)file:///path/to/strangler-kit(.*)$", re.MULTILINE)

SEED = """
from django.db import transaction
from strangler.django.outbox.services import outbox_add
from billing.extraction import InvoiceIssued
from billing.models import Invoice
for n in range(30):
    with transaction.atomic():
        invoice = Invoice.objects.create(amount_minor=100 + n, status="paid" if n % 3 else "open", revision=2)
        if n == 0:
            outbox_add(event=InvoiceIssued(invoice_id=invoice.id))
            print(invoice.id)
"""
CONFLICTS = """
from strangler.django.extraction.models import SyncConflict
print([(c.context, c.kind, c.decision) for c in SyncConflict.objects.all()])
"""


def _clean_env() -> dict[str, str]:
    drop = {"DJANGO_SETTINGS_MODULE", "DATABASE_URL", "CELERY_BROKER_URL", "REDIS_URL", "PYTHONPATH", "VIRTUAL_ENV",
            "PYTHONHOME"}
    return {k: v for k, v in os.environ.items() if k not in drop}


@pytest.fixture(scope="module")
def kit_bin(tmp_path_factory) -> Path:
    """A fresh venv with the kit installed the README's way; its bin directory."""
    section = (REPO / "README.md").read_text().split("## Use the kit in your own Django monolith", 1)[1]
    install = README_INSTALL.search(section)
    assert install, "the README's 'Use the kit' section no longer shows its pip install line"
    root = tmp_path_factory.mktemp("kit")
    checkout = root / "strangler-kit"  # a copy: building in the repository would leave build/ in it
    files = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=REPO, capture_output=True,
                           check=True).stdout.decode().split("\0")
    for name in filter(None, files):
        if (REPO / name).is_file():
            (checkout / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / name, checkout / name)
    venv = root / "venv"
    started = time.monotonic()
    subprocess.run([sys.executable, "-m", "venv", str(venv)], env=_clean_env(), check=True, timeout=120)
    command = f"{venv / 'bin' / 'pip'} install -q {install[1]}file://{checkout}{install[2]}"
    subprocess.run(command, shell=True, cwd=checkout, env=_clean_env(), check=True, timeout=400)
    # The project's own web server (the kit does not choose one for it).
    subprocess.run([str(venv / "bin" / "pip"), "install", "-q", "-c", "constraints.txt", "gunicorn"], cwd=checkout,
                   env=_clean_env(), check=True, timeout=120)
    print(f"fresh venv with the kit: {time.monotonic() - started:.1f} s")
    return venv / "bin"


def test_the_fresh_venv_has_the_kit_and_nothing_of_the_repository(kit_bin):
    probe = ("import importlib.util, strangler.django.extraction as e, django, celery; "
             "print(e.__file__, django.get_version(), importlib.util.find_spec('monolith'))")
    out = subprocess.run([str(kit_bin / "python"), "-c", probe], cwd="/", env=_clean_env(), capture_output=True,
                         text=True, check=True).stdout.split()
    assert out[0].startswith(str(kit_bin.parent / "lib")), out  # the installed copy, not this checkout
    assert out[1] == "5.2.19" and out[2] == "None", out


def _project(tmp: Path, bin_dir: Path) -> Path:
    tmp.mkdir()
    env = _clean_env()
    subprocess.run([str(bin_dir / "django-admin"), "startproject", "shop", str(tmp)], env=env, check=True, timeout=60)
    subprocess.run([str(bin_dir / "python"), "manage.py", "startapp", "billing"], cwd=tmp, env=env, check=True,
                   timeout=60)
    shutil.copy(FILES / "billing_models.py.txt", tmp / "billing" / "models.py")
    shutil.copy(FILES / "billing_extraction.py.txt", tmp / "billing" / "extraction.py")
    (tmp / "billing" / "apps.py").write_text(
        "from django.apps import AppConfig\n\n\nclass BillingConfig(AppConfig):\n    name = 'billing'\n"
        "    default_auto_field = 'django.db.models.BigAutoField'\n\n    def ready(self):\n"
        "        from billing import extraction  # noqa: F401  (registers the consumer)\n")
    with (tmp / "shop" / "settings.py").open("a") as settings:
        settings.write((FILES / "shop_settings.py.txt").read_text())
    shutil.copy(FILES / "shop_celery.py.txt", tmp / "shop" / "celery.py")
    shutil.copy(FILES / "shop_urls.py.txt", tmp / "shop" / "urls.py")
    return tmp


def _env(tmp: Path, db: str, bin_dir: Path, **extra: str) -> dict[str, str]:
    return _clean_env() | {
        "DATABASE_URL": f"sqlite:///{tmp / db}", "CELERY_BROKER_URL": REDIS, "MARK_DIR": str(tmp / "marks"),
        "SHOP_QUEUE": f"shop-{uuid.uuid4().hex[:8]}", "KIT_BIN": str(bin_dir), **extra}


def _manage(tmp: Path, env: dict, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    result = subprocess.run([str(Path(env["KIT_BIN"]) / "python"), "manage.py", *args], cwd=tmp, env=env, capture_output=True, text=True,
                            timeout=120)
    if check and result.returncode != 0:
        raise AssertionError(f"manage.py {' '.join(args)}: {result.returncode}\n{result.stdout}\n{result.stderr}")
    return result


def _shell(tmp: Path, env: dict, code: str) -> str:
    """The last line ``code`` prints (Django 5.2's shell may first say what it imported)."""
    return _manage(tmp, env, "shell", "-c", code).stdout.strip().splitlines()[-1]


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)


def test_a_new_project_uses_the_kit_end_to_end(tmp_path, kit_bin):
    redis = pytest.importorskip("redis")
    try:
        redis.Redis.from_url(REDIS).ping()
    except redis.RedisError:
        pytest.skip(f"no Redis at {REDIS}")
    tmp = _project(tmp_path / "shop", kit_bin)
    (tmp / "marks").mkdir()
    source = _env(tmp, "source.sqlite3", kit_bin)
    target = _env(tmp, "target.sqlite3", kit_bin, BILLING_ORIGIN="billing-service")
    _manage(tmp, source, "makemigrations", "billing", "-v0")
    _manage(tmp, source, "migrate", "-v0")
    _manage(tmp, target, "migrate", "-v0")
    invoice_id = _shell(tmp, source, SEED)

    port = free_port()
    processes = [
        subprocess.Popen([str(kit_bin / "gunicorn"), "shop.wsgi", "-b", f"127.0.0.1:{port}", "-w", "1"], cwd=tmp,
                         env=target, stdout=(tmp / "gunicorn.log").open("w"), stderr=subprocess.STDOUT),
        subprocess.Popen([str(kit_bin / "celery"), "-A", "shop.celery", "worker", "-Q", source["SHOP_QUEUE"], "-P", "solo",
                          "--without-mingle", "--without-gossip", "-l", "WARNING"], cwd=tmp, env=source,
                         stdout=(tmp / "worker.log").open("w"), stderr=subprocess.STDOUT),
    ]
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if requests.get(url + "/healthz", timeout=1).status_code == 200:
                    break
            except requests.RequestException:
                time.sleep(0.2)
        _manage(tmp, source, "relay_outbox")
        mark = tmp / "marks" / invoice_id
        deadline = time.monotonic() + 60
        while not mark.exists() and time.monotonic() < deadline:
            time.sleep(0.2)
        assert mark.exists(), (tmp / "worker.log").read_text()[-3000:]

        backfill = _manage(tmp, source, "strangler_backfill", "billing", "--target", url, "--batch-size", "7")
        assert "30 invoices copied" in backfill.stdout
        reconcile = _manage(tmp, source, "strangler_reconcile", "billing", "--target", url)
        assert "identical: 30 invoices compared" in reconcile.stdout

        # The same invoice at the same revision, written on the target too: open there, paid here.
        held = json.loads(_shell(tmp, source, "import json; from billing.models import Invoice; from strangler.django"
                                              ".extraction.export import jsonable; i = Invoice.objects.filter("
                                              "status='paid').first(); print(json.dumps({f: jsonable(getattr(i, f)) "
                                              "for f in ('id', 'amount_minor', 'status', 'revision', 'created_at')}))"))
        from strangler.proxy.credentials import HEADER, credential_mint

        answer = requests.post(url + "/internal/v1/billing/sync/import/", timeout=10,
                               headers={HEADER: credential_mint("throwaway-secret-of-the-kit-test", "shop",
                                                                       audience="shop")},
                               json={"invoices": [held | {"status": "open"}], "origin": "billing-service"})
        assert answer.status_code == 200, answer.text
        assert _shell(tmp, target, CONFLICTS) == "[('billing', 'same_revision', 'held')]"
        again = _manage(tmp, source, "strangler_reconcile", "billing", "--target", url)
        assert again.returncode == 0  # the paid copy (higher status rank) was kept over the open one
    finally:
        for proc in processes:
            _stop(proc)


def test_strangler_extract_in_the_fresh_venv_writes_a_service_that_starts(tmp_path, kit_bin):
    """The scaffold from the installed wheel (its templates are package data): the billing app of a
    startproject becomes a service that migrates, starts under gunicorn and is ready."""
    redis = pytest.importorskip("redis")
    try:
        redis.Redis.from_url(REDIS).ping()
    except redis.RedisError:
        pytest.skip(f"no Redis at {REDIS}")
    tmp = _project(tmp_path / "shop", kit_bin)
    with (tmp / "shop" / "settings.py").open("a") as settings:
        settings.write('INSTALLED_APPS += ["strangler.django.scaffold"]\n')
    source = _env(tmp, "source.sqlite3", kit_bin)
    _manage(tmp, source, "makemigrations", "billing", "-v0")
    scaffold = _manage(tmp, source, "strangler_extract", "billing", "--to", "extracted/billing")
    assert "Wrote 23 files" in scaffold.stdout, scaffold.stdout
    service = tmp / "extracted" / "billing"
    env = _clean_env() | {"DJANGO_SETTINGS_MODULE": "billing_service.settings", "VAR_DIR": str(tmp / "service-var"),
                          "CELERY_BROKER_URL": REDIS, "MARK_DIR": str(tmp / "marks"), "KIT_BIN": str(kit_bin)}
    _manage(service, env, "migrate", "-v0")
    port = free_port()
    server = subprocess.Popen([str(kit_bin / "gunicorn"), "billing_service.wsgi", "-b", f"127.0.0.1:{port}", "-w", "1"],
                              cwd=service, env=env, stdout=(tmp / "service.log").open("w"), stderr=subprocess.STDOUT)
    try:
        answer = None
        deadline = time.monotonic() + 30
        while answer is None and time.monotonic() < deadline:
            try:
                answer = requests.get(f"http://127.0.0.1:{port}/readyz", timeout=5)
            except requests.RequestException:
                time.sleep(0.2)
    finally:
        _stop(server)
    assert answer is not None and answer.status_code == 200, (tmp / "service.log").read_text()[-3000:]
    assert answer.json() == {"status": "ok", "checks": {"database": "ok", "broker": "ok"}}
