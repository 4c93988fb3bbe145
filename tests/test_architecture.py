"""Architecture rules, checked on the real tree.

Imports between contexts, and the strangler's layers (no Django in the proxy kit, the data plane at
the bottom), are import-linter's job (contracts in pyproject.toml); this module runs it and proves
it can fail. Model relations between contexts are checked here from Django's registry.
"""

from __future__ import annotations

import subprocess
import sys
import uuid
from pathlib import Path

import pytest

# db_independent: imports, read statically; the PostgreSQL pass skips it.
pytestmark = pytest.mark.db_independent

ROOT = Path(__file__).resolve().parent.parent
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def _lint_imports() -> subprocess.CompletedProcess[str]:
    # --no-cache: a cached graph could hide the module this test writes and removes.
    return subprocess.run([str(LINT_IMPORTS), "--no-cache"], cwd=ROOT, capture_output=True, text=True, timeout=120)


def test_import_contracts_are_kept():
    result = _lint_imports()
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


@pytest.mark.parametrize(
    ("package", "import_line", "contract", "edge"),
    [
        ("monolith.orders", "import monolith.payments.apps",
         "Contexts import each other only through interface and events", "-> monolith.payments.apps"),
        ("monolith.notifications", "from monolith.users import models", "Contexts import each other only through "
         "interface and events", "-> monolith.users.models"),
        ("monolith.kernel", "import monolith.orders.apps", "The kernel depends on no bounded context",
         "-> monolith.orders.apps"),
        ("monolith.catalog", "import monolith.orders.apps", "The catalog context imports no other context and no "
         "monolith settings (the catalog service runs it)", "-> monolith.orders.apps"),
        ("monolith.payments", "import strangler.control.store", "The monolith uses the kit only through strangler.django",
         "-> strangler.control.store"),
        ("strangler.django", "import monolith.kernel.money",
         "The kit's Django side imports nothing of the demo (monolith, the services, contracts)",
         "-> monolith.kernel.money"),
        ("strangler.proxy", "import django", "The strangler kit imports no Django, no monolith and no Pact "
         "tooling (pip install . has none of them)", "-> django"),
        ("strangler.proxy", "import strangler.control.store", "The strangler's layers: control above "
         "dashboard and export, the data plane (proxy) at the bottom", "-> strangler.control.store"),
    ],
)
def test_a_deliberate_violation_breaks_the_contract(package, import_line, contract, edge):
    name = f"_tmp_violation_{uuid.uuid4().hex[:10]}"
    module = ROOT.joinpath(*package.split("."), f"{name}.py")
    try:
        module.write_text(f'"""Written and removed by tests/test_architecture.py."""\n\n{import_line}  # noqa\n')
        result = _lint_imports()
    finally:
        module.unlink(missing_ok=True)
    assert result.returncode != 0, result.stdout
    assert f"{contract} BROKEN" in result.stdout
    assert f"{package}.{name} {edge}" in result.stdout


def test_importing_another_contexts_events_is_allowed():
    name = f"_tmp_allowed_{uuid.uuid4().hex[:10]}"
    module = ROOT / "monolith" / "users" / f"{name}.py"
    try:
        module.write_text("import monolith.orders.events  # noqa\n")
        result = _lint_imports()
    finally:
        module.unlink(missing_ok=True)
    assert result.returncode == 0, result.stdout


# --- model relations -----------------------------------------------------------------------------


def _context(model) -> str | None:
    """The monolith app a model belongs to (kernel counts as its own unit), or None if third-party."""
    module = model.__module__
    if not module.startswith("monolith."):
        return None
    return module.split(".")[1]


def crossing_relations(models) -> list[str]:
    """Every FK/O2O/M2M from a monolith model to a model of another monolith app.

    Relations from third-party models are not ours to police and are skipped: e.g.
    rest_framework.authtoken's Token -> users.User, or contrib's Permission -> ContentType.
    A relation from a monolith model to a third-party model (e.g. auth.Group) is not a
    cross-context reference either.
    """
    found = []
    for model in models:
        source = _context(model)
        if source is None:
            continue
        for field in model._meta.get_fields():
            # Only forward, concrete relations: reverse accessors are the other side's fields.
            if not field.is_relation or field.auto_created or field.related_model is None:
                continue
            target = _context(field.related_model) if not isinstance(field.related_model, str) else None
            if target is not None and target != source:
                found.append(f"{model._meta.label}.{field.name} -> {field.related_model._meta.label}")
    return sorted(found)


def test_no_relation_crosses_a_context_boundary():
    from django.apps import apps

    crossing = crossing_relations(apps.get_models())
    assert crossing == [], "cross-context references must be UUIDs, not relations:\n" + "\n".join(crossing)


def test_crossing_relations_finds_a_foreign_key_between_contexts():
    from django.db import models
    from django.test.utils import isolate_apps

    with isolate_apps("monolith.orders", "monolith.payments") as registry:

        class Order(models.Model):  # noqa: DJ008
            class Meta:
                app_label = "orders"

        Order.__module__ = "monolith.orders.models"

        class Payment(models.Model):  # noqa: DJ008
            order = models.ForeignKey(Order, on_delete=models.CASCADE)
            same_context = models.ForeignKey("self", null=True, on_delete=models.CASCADE)

            class Meta:
                app_label = "payments"

        Payment.__module__ = "monolith.payments.models"
        assert crossing_relations(registry.get_models()) == ["payments.Payment.order -> orders.Order"]
