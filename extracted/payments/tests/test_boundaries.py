"""The service uses the monolith package only through monolith.kernel and monolith.payments.

Checked twice: at run time (what the web process, the worker and the relay actually load) and
statically with import-linter (every import, including those inside functions)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.live import REPO_ROOT, SERVICE_DIR, base_env

ALLOWED = ("monolith.kernel", "monolith.payments")

_LOAD_EVERYTHING = """
import sys
import django
django.setup()
import payments_service.urls, payments_service.wsgi  # noqa
from django.urls import get_resolver
get_resolver().url_patterns
from rest_framework.settings import api_settings
api_settings.DEFAULT_AUTHENTICATION_CLASSES, api_settings.EXCEPTION_HANDLER
from payments_service.celery import app
app.loader.import_default_modules()
from django.core.management import get_commands, load_command_class
for name, app_name in get_commands().items():
    if app_name.startswith(("monolith", "strangler.django")):
        load_command_class(app_name, name)
print("\\n".join(sorted(m for m in sys.modules if m.split(".")[0] == "monolith" or m.startswith("strangler.django"))))
"""


def _allowed(module: str) -> bool:
    """The kernel and payments of the monolith package, and the kit's Django side."""
    if module == "strangler.django" or module.startswith("strangler.django."):
        return True
    return module == "monolith" or any(module == a or module.startswith(a + ".") for a in ALLOWED)


def test_only_the_kernel_and_payments_are_loaded_at_run_time():
    env = base_env(DJANGO_SETTINGS_MODULE="payments_service.settings", VAR_DIR=str(SERVICE_DIR / "var"))
    result = subprocess.run([sys.executable, "-c", _LOAD_EVERYTHING], cwd=SERVICE_DIR, env=env,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    loaded = result.stdout.split()
    assert "strangler.django.outbox.tasks" in loaded and "monolith.payments.urls" in loaded  # it did load them
    assert [m for m in loaded if not _allowed(m)] == []


def test_installed_apps_take_only_the_kernel_and_payments_from_the_monolith(settings):
    assert [a for a in settings.INSTALLED_APPS if a.startswith("monolith")] == list(ALLOWED)


def test_the_import_contract_holds_statically():
    lint_imports = Path(sys.executable).with_name("lint-imports")
    env = base_env(PYTHONPATH=f"{SERVICE_DIR}:{REPO_ROOT}")
    result = subprocess.run([str(lint_imports), "--no-cache"], cwd=SERVICE_DIR, env=env, capture_output=True,
                            text=True, timeout=180)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "2 kept, 0 broken" in result.stdout
