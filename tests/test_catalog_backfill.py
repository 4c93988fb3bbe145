"""Catalog's products through the kit's extraction engine, against a live catalog service: the
monolith's ``strangler_backfill catalog`` copies its products to the service (the spec in
monolith/catalog/extraction.py, registered on both sides), ``strangler_reconcile catalog`` agrees,
and names a product that differs on the service; stock is left to its owner."""

from __future__ import annotations

import uuid

import pytest
from django.core.management import call_command

from monolith.catalog import interface as catalog
from monolith.kernel.money import Money
from tests.catalog_support import Server, service, service_stock, trusted  # noqa: F401 - fixtures

pytestmark = pytest.mark.integration


def _reconcile(target: Server, capsys) -> tuple[int, str]:
    try:
        call_command("strangler_reconcile", "catalog", "--target", target.url)
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    return code, capsys.readouterr().out


def test_backfill_copies_the_products_and_reconcile_agrees_then_names_a_difference(trusted, db, capsys) -> None:  # noqa: F811
    made = []
    for n in range(7):
        product = catalog.product_create(sku=f"bf-{uuid.uuid4().hex[:6]}-{n}", name=f"Product {n}",
                                         price=Money(1000 + n, "EUR"))
        catalog.stock_set(product_id=product.id, on_hand=5)
        made.append(product)
    call_command("strangler_backfill", "catalog", "--target", trusted.url, "--batch-size", "3")
    out = capsys.readouterr().out
    assert "products" in out
    copied = trusted.python(
        "import json; from monolith.catalog.models import Product; "
        f"print(json.dumps(sorted(Product.objects.filter(id__in={[str(p.id) for p in made]!r})"
        ".values_list('sku', 'price_minor', 'revision'))))")
    assert copied == sorted([[p.sku, p.price_minor, 1] for p in made])
    assert service_stock(trusted, made[0].id) == (0, 0)  # stock is not copied: it moves with its owner
    code, report = _reconcile(trusted, capsys)
    assert code == 0, report
    trusted.python("import json; from monolith.catalog.models import Product; "
                   f"Product.objects.filter(id={str(made[3].id)!r}).update(name='Renamed on the service'); "
                   "print(json.dumps(1))")
    code, report = _reconcile(trusted, capsys)
    assert code != 0 and str(made[3].id) in report, report
