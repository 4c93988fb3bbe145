"""A deliberately coupled app installed beside the monolith's contexts: its foreign key, cross-app
import, model use, signal and raw query each come out with the right file and line; a run under the
query recorder and a file of OpenTelemetry spans add queries, a spanning transaction and requests."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from strangler.django.coupling import report_json

from .support import MONOLITH_APPS, run_command, validate, write

FILES = {
    "coupled_settings.py": """
        from monolith.config.settings import *  # noqa: F403

        INSTALLED_APPS = [*INSTALLED_APPS, "coupled_fixture"]  # noqa: F405  (the kit's coupling app is there)
        DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": VAR_DIR / "db.sqlite3"}}  # noqa: F405
    """,
    "coupled_fixture/__init__.py": "",
    "coupled_fixture/models.py": """
        from django.db import models

        from monolith.catalog.models import Product


        class Wishlist(models.Model):
            product = models.ForeignKey(Product, on_delete=models.CASCADE)
            note = models.CharField(max_length=20)
    """,
    "coupled_fixture/handlers.py": """
        from django.db.models.signals import post_save
        from django.dispatch import receiver

        from monolith.catalog.models import Product


        @receiver(post_save, sender=Product)
        def product_saved(sender, instance, **kwargs):
            return instance
    """,
    "coupled_fixture/reports.py": """
        from django.db import connection

        from monolith.orders import selectors


        def product_count():
            with connection.cursor() as cursor:
                cursor.execute("SELECT COUNT(*) FROM catalog_product")
                return cursor.fetchone()[0]


        def recent_orders():
            return selectors.order_list(None)
    """,
    "coupled_fixture/services.py": """
        from django.db import transaction

        from monolith.catalog.models import Product

        from .models import Wishlist


        def wish(sku):
            with transaction.atomic():
                product = Product.objects.create(sku=sku, name=sku, price_minor=100, currency="EUR")
                return Wishlist.objects.create(product=product, note="x")
    """,
    "drive.py": """
        import django

        django.setup()
        from django.core.management import call_command

        call_command("migrate", run_syncdb=True, verbosity=0)
        from coupled_fixture import reports, services

        services.wish("SKU-1")
        print(reports.product_count())
    """,
}
APPS = f"{MONOLITH_APPS},coupled_fixture"


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp("coupled")
    write(tmp, FILES)
    return tmp


@pytest.fixture(scope="module")
def report(project: Path) -> dict:
    html = project / "report.html"
    report, _, stderr = run_command(project, "coupled_settings", "--apps", APPS, "--shared", "kernel",
                                    "--json", "-", "--html", str(html),
                                    "--run", f"{sys.executable} drive.py")
    assert "[coupling] done in" in stderr
    return report


def _edges(report: dict, source: str = "coupled_fixture") -> set[tuple]:
    return {(e["kind"], e["target"], e["file"], e["line"]) for e in report["edges"] if e["source"] == source}


def test_every_static_edge_with_file_and_line(report, project: Path):
    edges = _edges(report)
    models, handlers = str(project / "coupled_fixture/models.py"), str(project / "coupled_fixture/handlers.py")
    reports, services = str(project / "coupled_fixture/reports.py"), str(project / "coupled_fixture/services.py")
    assert ("fk", "catalog", models, 7) in edges
    assert ("import", "catalog", models, 3) in edges
    assert ("signal", "catalog", handlers, 7) in edges
    assert ("raw_sql", "catalog", reports, 8) in edges
    assert ("import", "orders", reports, 3) in edges
    assert ("model_use", "catalog", services, 10) in edges
    fk = next(e for e in report["edges"] if e["kind"] == "fk")
    assert fk["detail"] == "Wishlist.product -> catalog.Product"
    assert "replace the foreign key" in fk["advice"]
    signal = next(e for e in report["edges"] if e["kind"] == "signal")
    assert signal["detail"] == "post_save(sender=catalog.Product) -> product_saved" and "event" in signal["advice"]


def test_run_time_queries_and_the_spanning_transaction(report, project: Path):
    services, reports = str(project / "coupled_fixture/services.py"), str(project / "coupled_fixture/reports.py")
    edges = _edges(report)
    assert ("query", "catalog", services, 10) in edges  # the INSERT into catalog_product
    assert ("query", "catalog", reports, 8) in edges
    assert ("transaction", "catalog", services, 9) in edges  # atomic() over catalog and coupled_fixture
    assert report["dynamic"]["transactions_spanning_apps"] >= 1
    assert report["partition"]["metrics"]["icp_basis"] == "runtime"
    validate(report, report_json.schema())


def test_coupled_app_ranks_last_and_the_html_is_self_contained(report, project: Path):
    ranked = [c["app"] for c in report["candidates"]]
    assert ranked[-1] in {"coupled_fixture", "catalog"}
    fixture = next(c for c in report["candidates"] if c["app"] == "coupled_fixture")
    assert not fixture["ready"] and fixture["kinds"]["fk"] == 1
    page = (project / "report.html").read_text()
    assert "<svg" in page and "coupled_fixture" in page
    assert "http://" not in page.replace('xmlns="http://www.w3.org/2000/svg"', "") and "https://" not in page
    assert "<script" not in page


def test_opentelemetry_spans(project: Path):
    """OTLP/JSON: one request to the orders API whose view reads catalog's table and payments'."""
    def attrs(**kv):
        return [{"key": k, "value": {"stringValue": str(v)}} for k, v in kv.items()]

    spans = [
        {"traceId": "t1", "spanId": "root", "attributes": attrs(**{"url.path": "/api/v1/orders"})},
        {"traceId": "t1", "spanId": "s1", "parentSpanId": "root", "attributes": attrs(**{
            "db.statement": "SELECT * FROM catalog_product", "code.filepath": str(project / "coupled_fixture/reports.py"),
            "code.lineno": 8})},
        {"traceId": "t1", "spanId": "s2", "parentSpanId": "root", "attributes": attrs(**{
            "db.statement": "SELECT * FROM orders_order"})},
    ]
    (project / "spans.json").write_text(json.dumps({"resourceSpans": [{"scopeSpans": [{"spans": spans}]}]}))
    report, _, _ = run_command(project, "coupled_settings", "--apps", APPS, "--shared", "kernel",
                               "--json", "-", "--traces", "spans.json", "--partition", "coupled_fixture")
    assert ("query", "catalog", str(project / "coupled_fixture/reports.py"), 8) in _edges(report)
    assert report["dynamic"]["requests"] == 1
    assert report["dynamic"]["cross_app_queries_per_request"] == 1  # the orders view read catalog's table
    assert report["partition"]["services"] == [["coupled_fixture"]]


def test_spans_from_the_opentelemetry_sdk_console_exporter(project: Path):
    """Spans as the SDK's own ConsoleSpanExporter writes them (one JSON object per span)."""
    import io

    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import ConsoleSpanExporter, SimpleSpanProcessor

    out = io.StringIO()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(ConsoleSpanExporter(out=out)))
    tracer = provider.get_tracer("coupling-test")
    reports = str(project / "coupled_fixture/reports.py")
    for _ in range(2):
        with tracer.start_as_current_span("GET", attributes={"http.target": "/api/v1/orders"}), \
                tracer.start_as_current_span("SELECT", attributes={
                    "db.statement": "SELECT COUNT(*) FROM catalog_product", "code.filepath": reports,
                    "code.lineno": 8}):
            pass
    provider.shutdown()
    (project / "console.json").write_text(out.getvalue())
    report, _, _ = run_command(project, "coupled_settings", "--apps", APPS, "--json", "-",
                               "--traces", "console.json")
    query = next(e for e in report["edges"] if e["kind"] == "query")
    assert (query["source"], query["target"], query["file"], query["line"], query["count"]) == (
        "coupled_fixture", "catalog", reports, 8, 2)
    assert report["dynamic"]["requests"] == 2
    validate(report, report_json.schema())
