"""``strangler_extract`` on a project nobody here wrote: ``django-admin startproject`` and ``startapp``
in a temp folder, one model (Django's default BigAutoField key), the kit added to its settings.
The service scaffolded for that app passes its own tests before any hand edit (migrated, started
as a real process, 200 from /readyz); then, doing only what the command printed (the spec copied
next to the app and registered), the project backfills its rows into the running service and
reconciles them identical."""

from __future__ import annotations

import json
import re
import shlex
import shutil
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from strangler.testing import LOOPBACK, free_port, process_stop
from tests.kit.scaffold_support import SCAFFOLD_REDIS_URL, clean_env, service_tests_run, tree_snapshot

# db_independent: the throwaway project and its service run on SQLite files of their own; the PostgreSQL pass skips it.
pytestmark = [pytest.mark.db_independent, pytest.mark.integration, pytest.mark.timeout(300)]
COMMAND_TIMEOUT = 120
MODEL = '''from django.db import models


class Shipment(models.Model):
    tracking_code = models.CharField(max_length=40, unique=True)
    weight_grams = models.PositiveIntegerField()
    revision = models.PositiveIntegerField(default=1)
    updated_at = models.DateTimeField(auto_now=True)
'''
KIT_SETTINGS = '''
INSTALLED_APPS += ["shipping", "strangler.django.outbox", "strangler.django.idempotency",
                   "strangler.django.extraction", "strangler.django.scaffold"]
INTERNAL_AUTH_SECRET = "a-secret-both-sides-share"
INTERNAL_AUTH_CALLER = "depot"  # the service accepts this caller on /internal/ (read by the scaffold)
INTERNAL_AUTH_PATHS = {}
'''
SHIPMENTS = 25
SEED = f"""
from shipping.models import Shipment
Shipment.objects.bulk_create(Shipment(tracking_code=f"T{{n:04d}}", weight_grams=100 + n, revision=1 + n % 3)
                             for n in range({SHIPMENTS}))
"""
SPEC_PROBE = """
import json, django; django.setup()
from strangler.django.extraction.spec import extraction_spec
spec = extraction_spec(context="shipping")
print(json.dumps([spec.model, spec.kind, list(spec.fields), list(spec.compared_fields), spec.id_field]))
"""


def _run(args: list[str], cwd: Path, **env: str) -> subprocess.CompletedProcess:
    result = subprocess.run(args, cwd=cwd, env=clean_env(**env), capture_output=True, text=True,
                            timeout=COMMAND_TIMEOUT)
    assert result.returncode == 0, f"{' '.join(args)}:\n{result.stdout}\n{result.stderr}"
    return result


def _project(root: Path) -> Path:
    root.mkdir()
    _run([sys.executable, "-m", "django", "startproject", "depot", str(root)], cwd=root)
    _run([sys.executable, "manage.py", "startapp", "shipping"], cwd=root)
    (root / "shipping" / "models.py").write_text(MODEL)
    with (root / "depot" / "settings.py").open("a") as settings:
        settings.write(KIT_SETTINGS)
    _run([sys.executable, "manage.py", "makemigrations", "shipping", "-v0"], cwd=root)
    return root


def test_a_startproject_app_becomes_a_service_that_passes_its_own_tests(tmp_path):
    project = _project(tmp_path / "depot")
    before = tree_snapshot(project)
    scaffold = _run([sys.executable, "manage.py", "strangler_extract", "shipping", "--to", "extracted/shipping"],
                    cwd=project)
    service = project / "extracted" / "shipping"
    assert "Wrote 23 files" in scaffold.stdout and "shipping_service/settings.py" in scaffold.stdout
    # The project itself is untouched: only the service folder is new.
    assert {k: v for k, v in tree_snapshot(project).items() if not k.startswith("extracted/")} == before
    # No route is mounted for the app in the project's URLconf: the route entry uses /api/v1/<label>.
    assert 'prefix = "/api/v1/shipping"' in (service / "deploy" / "routes.toml").read_text()

    result = service_tests_run(service)
    assert result.returncode == 0 and "2 passed" in result.stdout, result.stdout + result.stderr

    probe = _run([sys.executable, "-c", SPEC_PROBE], cwd=service, DJANGO_SETTINGS_MODULE="shipping_service.settings",
                 VAR_DIR=str(tmp_path / "var"))
    assert json.loads(probe.stdout.strip().splitlines()[-1]) == [
        "shipping.Shipment", "shipments", ["id", "tracking_code", "weight_grams", "revision", "updated_at"],
        ["id", "tracking_code", "weight_grams"], "id"]

    _backfill_as_printed(project, service, scaffold.stdout, tmp_path)
    _image_fits_the_project(project, service)

    again = subprocess.run([sys.executable, "manage.py", "strangler_extract", "shipping", "--to", "extracted/shipping"],
                           cwd=project, env=clean_env(), capture_output=True, text=True, timeout=COMMAND_TIMEOUT)
    assert again.returncode == 1 and "already exists and is not empty" in again.stderr


def _backfill_as_printed(project: Path, service: Path, printed: str, tmp_path: Path) -> None:
    """The printed registration, done by hand; then the project's rows copied to the live service."""
    copy = re.search(r"copy (\S+) to (\S+) and add\n\s+(STRANGLER_EXTRACTIONS\[.*)", printed)
    assert copy, printed
    shutil.copy(service / copy[1], project / copy[2])
    with (project / "depot" / "settings.py").open("a") as settings:
        settings.write(f"STRANGLER_EXTRACTIONS = {{}}\n{copy[3]}\n")
    _run([sys.executable, "manage.py", "migrate", "-v0"], cwd=project)
    _run([sys.executable, "manage.py", "shell", "-c", SEED], cwd=project)

    env = {"DJANGO_SETTINGS_MODULE": "shipping_service.settings", "VAR_DIR": str(tmp_path / "service-var"),
           "CELERY_BROKER_URL": SCAFFOLD_REDIS_URL, "INTERNAL_AUTH_SECRET": "a-secret-both-sides-share"}
    _run([sys.executable, "manage.py", "migrate", "-v0"], cwd=service, **env)
    port = free_port()
    url = f"http://{LOOPBACK}:{port}"
    with (tmp_path / "service.log").open("w") as log:
        server = subprocess.Popen([sys.executable, "manage.py", "runserver", f"{LOOPBACK}:{port}", "--noreload"],
                                  cwd=service, env=clean_env(**env), stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                urllib.request.urlopen(url + "/healthz", timeout=2)
                break
            except OSError:
                time.sleep(0.2)
        backfill = _run([sys.executable, "manage.py", "strangler_backfill", "shipping", "--target", url,
                         "--batch-size", "7"], cwd=project)
        reconcile = _run([sys.executable, "manage.py", "strangler_reconcile", "shipping", "--target", url],
                         cwd=project)
    finally:
        process_stop(server)
    assert f"{SHIPMENTS} shipments copied" in backfill.stdout, backfill.stdout
    assert f"identical: {SHIPMENTS} shipments compared" in reconcile.stdout, reconcile.stdout


def _image_fits_the_project(project: Path, service: Path) -> None:
    """The Dockerfile, read statically (no Docker daemon here): built from the project's folder, it
    copies only what exists there, installs the kit (not in the build context) from an ARG, runs as
    a non-root user and serves the service's own WSGI module."""
    steps = [line.split(None, 1) for line in (service / "Dockerfile").read_text().replace("\\\n", " ").splitlines()
             if line.strip() and not line.startswith("#")]
    copies = [shlex.split(rest)[:-1] for word, rest in steps if word == "COPY"]
    assert copies and all((project / source).exists() for sources in copies for source in sources), copies
    assert ["shipping", "shipping"] in [shlex.split(rest) for word, rest in steps if word == "COPY"]
    assert any(word == "ARG" and rest.startswith("STRANGLER_KIT=") for word, rest in steps)
    assert [rest for word, rest in steps if word == "USER"] == ["service"]
    workdir = [rest for word, rest in steps if word == "WORKDIR"][-1]
    command = json.loads([rest for word, rest in steps if word == "CMD"][-1])
    assert workdir == "/app/extracted/shipping" and command[:2] == ["gunicorn", "shipping_service.wsgi"]
    assert (service / "shipping_service" / "wsgi.py").exists()


CARRIER_MODEL = '''from django.db import models


class Carrier(models.Model):
    name = models.CharField(max_length=80)
'''
SHIPMENT_WITH_CARRIER = MODEL + '''    carrier = models.ForeignKey("carriers.Carrier", on_delete=models.PROTECT, null=True)
'''


def test_the_apps_a_contexts_migrations_need_come_with_it(tmp_path):
    """An app whose migration depends on another app of the project (a foreign key to it): the
    service installs that app too (before the context's), its image copies it, and its own tests pass."""
    project = tmp_path / "depot"
    project.mkdir()
    _run([sys.executable, "-m", "django", "startproject", "depot", str(project)], cwd=project)
    for app, models in (("carriers", CARRIER_MODEL), ("shipping", SHIPMENT_WITH_CARRIER)):
        _run([sys.executable, "manage.py", "startapp", app], cwd=project)
        (project / app / "models.py").write_text(models)
    with (project / "depot" / "settings.py").open("a") as settings:
        settings.write(KIT_SETTINGS.replace('["shipping",', '["carriers", "shipping",'))
    _run([sys.executable, "manage.py", "makemigrations", "carriers", "shipping", "-v0"], cwd=project)
    _run([sys.executable, "manage.py", "strangler_extract", "shipping", "--to", "extracted/shipping"], cwd=project)

    service = project / "extracted" / "shipping"
    settings_text = (service / "shipping_service" / "settings.py").read_text()
    assert settings_text.index('"carriers.apps.CarriersConfig",') < settings_text.index('"shipping.apps.ShippingConfig",')
    copies = [line for line in (service / "Dockerfile").read_text().splitlines() if line.startswith("COPY ")]
    assert "COPY shipping shipping" in copies and "COPY carriers carriers" in copies
    result = service_tests_run(service)
    assert result.returncode == 0 and "2 passed" in result.stdout, result.stdout + result.stderr
