"""``manage.py strangler_extract`` on this monolith's catalog context: the service it writes passes
its own tests untouched (a real process migrated and started, 200 from /readyz), it serves the
catalog's routes and the spec fits the engine; a second run, an occupied folder and an unknown
context are refused with nothing written."""

from __future__ import annotations

import fnmatch
import json
import os
import re
import subprocess
import sys
import tomllib
from io import StringIO
from pathlib import Path

import pytest
import yaml
from django.core.management import CommandError, call_command

from strangler.django.scaffold.context import ContextInfo, FieldInfo, ModelInfo, UrlMount
from strangler.django.scaffold.plan import ServicePlan, spec_notes
from strangler.django.scaffold.render import TEMPLATES
from strangler.proxy.config import parse_config
from tests.kit.scaffold_support import clean_env, service_tests_run, tree_snapshot

# db_independent: the generated service runs on a SQLite file of its own; the PostgreSQL pass skips it.
pytestmark = pytest.mark.db_independent

REPO = Path(__file__).resolve().parents[2]
PAYMENTS_SETTINGS = REPO / "extracted" / "payments" / "payments_service" / "settings.py"
# Payments' own: its processor, its end-user token introspection and its order-owner check.
PAYMENTS_OWN_VARIABLES = {"PAYMENTS_PROCESSOR", "IDENTITY_CONNECT_TIMEOUT", "IDENTITY_READ_TIMEOUT",
                          "ORDERS_CONNECT_TIMEOUT", "ORDERS_READ_TIMEOUT", "ORDERS_RETRIES"}
ENV_READ = re.compile(r'(?:os\.environ\.get|_flag|_queues)\("([A-Z_]+)"')
COMPOSE = Path("/usr/bin/docker-compose")
REQUIRED_VARIABLE = re.compile(r"\$\{(\w+):\?")
EXPECTED_FILES = {
    "Dockerfile", "README.md", "manage.py", "pyproject.toml", "tests/__init__.py", "tests/test_service_starts.py",
    "catalog_service/__init__.py", "catalog_service/celery.py", "catalog_service/extraction.py",
    "catalog_service/settings.py", "catalog_service/urls.py", "catalog_service/wsgi.py",
    "contracts/__init__.py", "contracts/participants.py", "contracts/test_consumer.py", "contracts/test_provider.py",
    "deploy/routes.toml", "deploy/compose.yml", "deploy/k8s/catalog.yaml", "deploy/k8s/catalog-config.yaml",
    "deploy/k8s/catalog-worker.yaml", "deploy/k8s/catalog-relay.yaml", "deploy/k8s/catalog-migrate.yaml",
}


def _extract(label: str, out: Path) -> str:
    stdout = StringIO()
    call_command("strangler_extract", label, "--to", str(out), stdout=stdout)
    return stdout.getvalue()


@pytest.mark.integration
@pytest.mark.timeout(300)
def test_catalog_service_passes_its_own_tests(tmp_path):
    out = tmp_path / "extracted" / "catalog"
    printed = _extract("catalog", out)

    assert set(tree_snapshot(out)) == EXPECTED_FILES
    # The summary counts every file's lines, and they are the files' real line counts.
    for name in EXPECTED_FILES:
        lines = len((out / name).read_text().splitlines())
        assert any(row.split() == [name, str(lines)] for row in printed.splitlines()), (name, lines, printed)
    total = sum(len((out / n).read_text().splitlines()) for n in EXPECTED_FILES)
    assert f"Wrote {len(EXPECTED_FILES)} files ({total} lines) to {out}:" in printed
    # What to add elsewhere is printed, never written: the route for the prefix the monolith mounts catalog at.
    assert 'prefix = "/api/v1/products"' in printed and 'STRANGLER_EXTRACTIONS["catalog"]' in printed

    result = service_tests_run(out)
    assert result.returncode == 0 and "2 passed" in result.stdout, result.stdout + result.stderr
    # The Pact skeletons run too: the consumer writes its pact, the provider verifies it on the live service.
    pacts = service_tests_run(out, "contracts")
    assert pacts.returncode == 0 and "2 passed" in pacts.stdout, pacts.stdout + pacts.stderr
    assert (out / "contracts" / "pacts" / "monolith-catalog-catalog.json").exists()


def test_catalog_service_settings_routes_and_spec(tmp_path):
    """The generated project, loaded in a process of its own: its settings, URLs and the spec the engine reads."""
    out = tmp_path / "catalog"
    _extract("catalog", out)
    probe = (
        "import json, django; django.setup()\n"
        "from django.conf import settings; from django.urls import resolve\n"
        "from strangler.django.extraction.spec import extraction_spec\n"
        "spec = extraction_spec(context='catalog')\n"
        "print(json.dumps({'apps': settings.INSTALLED_APPS, 'caller': settings.INTERNAL_AUTH_CALLER,\n"
        "  'queue': settings.CELERY_TASK_DEFAULT_QUEUE, 'routes': settings.OUTBOX_ROUTES,\n"
        "  'products': resolve('/api/v1/products/').func.view_class.__name__,\n"
        "  'sync': resolve('/internal/v1/catalog/sync/import/').func.view_class.__name__,\n"
        "  'spec': [spec.model, spec.kind, list(spec.fields), spec.sync_path, spec.origin(), spec.target_audience],\n"
        "  'model_fields': [f.attname for f in spec.row_model()._meta.concrete_fields]}))\n"
    )
    result = subprocess.run([sys.executable, "-c", probe], cwd=out, capture_output=True, text=True, timeout=60,
                            env=clean_env(DJANGO_SETTINGS_MODULE="catalog_service.settings",
                                          VAR_DIR=str(tmp_path / "var")))
    assert result.returncode == 0, result.stderr
    seen = json.loads(result.stdout.strip().splitlines()[-1])
    assert seen["apps"][-4:] == ["strangler.django.outbox", "strangler.django.idempotency",
                                 "strangler.django.extraction", "monolith.catalog.apps.CatalogConfig"]
    assert (seen["caller"], seen["queue"], seen["routes"]) == ("catalog-service", "catalog", {"*": ["monolith"]})
    assert (seen["products"], seen["sync"]) == ("ProductListApi", "SyncImportView")
    assert seen["spec"] == ["catalog.Product", "products", seen["model_fields"], "/internal/v1/catalog/sync/",
                            "catalog-service", "catalog-service"]


def test_a_second_run_refuses_and_writes_nothing(tmp_path):
    out = tmp_path / "catalog"
    _extract("catalog", out)
    (out / "catalog_service" / "settings.py").write_text("# edited by hand\n")
    before = tree_snapshot(out)
    with pytest.raises(CommandError, match="already exists and is not empty: nothing written"):
        _extract("catalog", out)
    assert tree_snapshot(out) == before


def test_a_folder_with_anything_in_it_is_refused(tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(CommandError, match="not empty"):
        _extract("catalog", tmp_path)
    assert tree_snapshot(tmp_path) == {"notes.txt": b"mine"}


def test_an_unknown_context_is_a_command_error_and_exits_non_zero(tmp_path):
    out = tmp_path / "billing"
    with pytest.raises(CommandError, match=r"unknown context 'billing': no installed app has that label \(installed: .*catalog"):
        _extract("billing", out)
    result = subprocess.run([sys.executable, "manage.py", "strangler_extract", "billing", "--to", str(out)], cwd=REPO,
                            env=clean_env(DJANGO_SETTINGS_MODULE="monolith.config.settings",
                                          VAR_DIR=str(tmp_path / "var")),
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 1 and "CommandError: unknown context 'billing'" in result.stderr, result.stderr
    assert not out.exists()


def test_every_template_is_package_data():
    """The wheel carries the templates: each one matches a package-data pattern of the same depth."""
    patterns = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"][
        "strangler.django.scaffold"]
    app = TEMPLATES.parent.parent
    templates = [t.relative_to(app).parts for t in TEMPLATES.parent.rglob("*") if t.is_file()]
    assert templates
    for parts in templates:
        assert any(len(p.split("/")) == len(parts) and all(map(fnmatch.fnmatchcase, parts, p.split("/")))
                   for p in patterns), "/".join(parts)


def test_deploy_files_fit_the_proxy_compose_and_kubernetes(tmp_path):
    """The route entry joins this repository's compose route table and the proxy's parser takes it;
    compose and the manifests are YAML naming the service's image, queue and probes; the generated
    Python passes this repository's lint rules."""
    out = tmp_path / "catalog"
    _extract("catalog", out)
    table = tomllib.loads((REPO / "deploy" / "compose" / "routes.toml").read_text())
    entry = tomllib.loads((out / "deploy" / "routes.toml").read_text())
    # This repository's table already holds catalog, merged from this entry (its port moved to the
    # stack's 8003, its shadow told which fields differ by design): it agrees on what the scaffold
    # decides, then is taken out so the entry joins the table as into one without it.
    merged = next(r for r in table["routes"] if r["name"] == "catalog")
    generated = entry["routes"][0]
    assert {k: merged[k] for k in generated} == generated
    assert table["targets"]["catalog"]["credential"] == entry["targets"]["catalog"]["credential"]
    table["routes"] = [r for r in table["routes"] if r["name"] != "catalog"]
    del table["targets"]["catalog"], table["contracts"]["providers"]["catalog"]
    table["targets"] |= entry["targets"]
    table["routes"] += entry["routes"]
    # The flip gate of the compose table needs the service's providers: the names the route entry's
    # comment gives are the generated participants' SERVICES.
    participants: dict = {}
    exec((out / "contracts" / "participants.py").read_text(), participants)  # noqa: S102 - generated, read back
    assert '#   catalog = ["catalog", "catalog-events"]' in (out / "deploy" / "routes.toml").read_text()
    assert participants["SERVICES"] == {"catalog": ("catalog", "catalog-events")}
    table["contracts"]["providers"] |= {k: list(v) for k, v in participants["SERVICES"].items()}
    config = parse_config(table, env={"INTERNAL_AUTH_SECRET": "a-test-secret"})
    route = next(r for r in config.table.routes if r.name == "catalog")
    target = config.table.targets["catalog"]
    assert (route.prefix, route.service, target.host, target.port) == ("/api/v1/products", "catalog", "catalog", 8080)

    services = yaml.safe_load((out / "deploy" / "compose.yml").read_text())["services"]
    assert set(services) == {"catalog-db", "catalog-migrate", "catalog", "catalog-worker", "catalog-relay"}
    assert services["catalog-worker"]["command"][:6] == ["celery", "-A", "catalog_service", "worker", "-Q", "catalog"]
    web = list(yaml.safe_load_all((out / "deploy" / "k8s" / "catalog.yaml").read_text()))
    assert [d["kind"] for d in web] == ["Deployment", "Service", "HorizontalPodAutoscaler"]
    container = web[0]["spec"]["template"]["spec"]["containers"][0]
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert {e["name"] for e in container["env"]} == {"SECRET_KEY", "INTERNAL_AUTH_SECRET", "DATABASE_URL",
                                                      "CELERY_BROKER_URL"}
    for name in ("catalog-config", "catalog-worker", "catalog-relay", "catalog-migrate"):
        assert yaml.safe_load((out / "deploy" / "k8s" / f"{name}.yaml").read_text())["metadata"]["name"] == name

    lint = subprocess.run([str(Path(sys.executable).parent / "ruff"), "check", "--no-cache", "--config",
                           str(REPO / "pyproject.toml"), str(out)], capture_output=True, text=True, timeout=60)
    assert lint.returncode == 0, lint.stdout


def test_the_settings_read_the_payments_services_variables(tmp_path):
    """The generated settings read the environment variables the payments service reads, but for
    those that configure payments' own code (its processor, its end-user token introspection and its
    order-owner check)."""
    out = tmp_path / "catalog"
    _extract("catalog", out)
    generated = set(ENV_READ.findall((out / "catalog_service" / "settings.py").read_text()))
    payments = set(ENV_READ.findall(PAYMENTS_SETTINGS.read_text()))
    assert {"DEBUG", "SECRET_KEY", "INTERNAL_AUTH_SECRET", "CELERY_QUEUE", "OUTBOX_QUEUES"} <= generated
    assert generated == payments - PAYMENTS_OWN_VARIABLES


def test_the_compose_services_merge_into_this_repositorys_compose_file(tmp_path):
    """docker-compose (Debian's 1.29, as tests/test_deploy_compose.py) accepts this repository's
    docker-compose.yml with the generated services added, every required secret set."""
    if not COMPOSE.exists():
        pytest.skip("docker-compose is not installed (apt-get install -y docker-compose)")
    out = tmp_path / "catalog"
    _extract("catalog", out)
    files = [REPO / "docker-compose.yml", out / "deploy" / "compose.yml"]
    required = sorted({name for f in files for name in REQUIRED_VARIABLE.findall(f.read_text())})
    assert {"CATALOG_SECRET_KEY", "CATALOG_DB_PASSWORD"} <= set(required)
    env_file = tmp_path / "empty.env"
    env_file.write_text("")
    merged = subprocess.run([str(COMPOSE), "--env-file", str(env_file), *(a for f in files for a in ("-f", str(f))),
                             "config"], cwd=REPO, capture_output=True, text=True, timeout=120,
                            env={"PATH": os.environ.get("PATH", "")} | {n: f"{i:02d}ab" for i, n in enumerate(required)})
    assert merged.returncode == 0, merged.stderr
    services = yaml.safe_load(merged.stdout)["services"]
    assert services["catalog"]["environment"]["CELERY_QUEUE"] == "catalog"
    assert services["catalog"]["depends_on"]["redis"] == {"condition": "service_healthy"}


def test_the_spec_says_what_the_engine_cannot_do_with_the_chosen_model():
    """A model without a revision column, or with a column the engine has no check for, is named in
    the spec's docstring with what to add; a model the engine takes as it is gets no note."""
    ready = ModelInfo(label="app.Ready", name="Ready", pk="id", kind="readies", fields=(
        FieldInfo("id", False, "BigAutoField", True), FieldInfo("revision", False, "PositiveIntegerField", True)))
    assert spec_notes(ready) == ""
    priced = ModelInfo(label="app.Priced", name="Priced", pk="id", kind="priceds", fields=(
        FieldInfo("id", False, "BigAutoField", True), FieldInfo("price", False, "DecimalField", False)))
    notes = spec_notes(priced)
    assert "app.Priced has no 'revision' column" in notes
    assert "no check for incoming values of price (DecimalField)" in notes


def test_a_route_per_public_prefix_and_none_for_internal_ones(tmp_path):
    mounts = (UrlMount("api/v1/parcels/", "depot.shipping.urls"), UrlMount("internal/v1/parcels/", "depot.shipping.internal"),
              UrlMount("api/v2/parcels/", "depot.shipping.urls_v2"))
    context = ContextInfo(label="Shipping_Zone", module="depot.shipping", installed_as="depot.shipping", source_root=tmp_path,
                          models=(), mounts=mounts, app_dependencies=(), has_migrations=True, source_packages=("depot",))
    plan = ServicePlan(context=context, out=tmp_path / "svc", port=8080)
    routes = tomllib.loads(plan.route_entries())["routes"]
    assert [(r["name"], r["prefix"], r["service"]) for r in routes] == [
        ("shipping-zone", "/api/v1/parcels", "shipping-zone"), ("shipping-zone-2", "/api/v2/parcels", "shipping-zone")]
