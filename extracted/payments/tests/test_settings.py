"""Settings come from the environment; production (DEBUG off) refuses the development secrets."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.live import SERVICE_DIR, base_env

_PRINT = """
import json
from django.conf import settings
import django
django.setup()
print(json.dumps({k: getattr(settings, k) for k in (
    "INTERNAL_AUTH_CALLER", "INTERNAL_AUTH_PATHS", "OUTBOX_ROUTES", "OUTBOX_CELERY_APP", "CELERY_TASK_DEFAULT_QUEUE",
    "PAYMENTS_ORIGIN", "PAYMENTS_PROCESSOR", "MONOLITH_URL", "CELERY_BROKER_URL", "CELERY_BROKER_TRANSPORT_OPTIONS",
    "DATA_UPLOAD_MAX_MEMORY_SIZE")} | {"DB": str(settings.DATABASES["default"]["NAME"]),
    "DB_OPTIONS": settings.DATABASES["default"].get("OPTIONS", {})}, default=str))
"""


def _setup(tmp_path, **env: str) -> subprocess.CompletedProcess[str]:
    full = base_env(DJANGO_SETTINGS_MODULE="payments_service.settings", VAR_DIR=str(tmp_path / "var"), **env)
    return subprocess.run([sys.executable, "-c", _PRINT], cwd=SERVICE_DIR, env=full, capture_output=True,
                          text=True, timeout=60)


def test_defaults(tmp_path):
    result = _setup(tmp_path)
    assert result.returncode == 0, result.stderr
    s = json.loads(result.stdout)
    assert s["INTERNAL_AUTH_CALLER"] == "payments-service"
    assert s["INTERNAL_AUTH_PATHS"] == {"/api/": ["strangler", "monolith"], "/internal/": ["monolith"],
                                         "/internal/strangler/": ["strangler"]}
    assert s["OUTBOX_ROUTES"] == {"*": ["monolith"]}
    assert s["OUTBOX_CELERY_APP"] == "payments_service.celery.app"
    assert s["CELERY_TASK_DEFAULT_QUEUE"] == "payments"
    assert (s["PAYMENTS_ORIGIN"], s["PAYMENTS_PROCESSOR"]) == ("payments-service", "fake")
    assert s["MONOLITH_URL"] == "http://127.0.0.1:8001"
    assert s["DATA_UPLOAD_MAX_MEMORY_SIZE"] == 256 * 1024
    assert s["DB"] == str(tmp_path / "var" / "payments.sqlite3")
    assert s["DB_OPTIONS"] == {"timeout": 20, "transaction_mode": "IMMEDIATE",
                               "init_command": "PRAGMA journal_mode=WAL;"}
    # The embedded Redis that `make run` starts, shared with the monolith.
    assert s["CELERY_BROKER_URL"] == "redis://127.0.0.1:6390/0"
    assert s["CELERY_BROKER_TRANSPORT_OPTIONS"] == {"visibility_timeout": 3600}


def test_environment_overrides(tmp_path):
    result = _setup(tmp_path, OUTBOX_QUEUES="monolith, audit", CELERY_QUEUE="payments-2",
                    CELERY_BROKER_URL="redis://broker.example:6379/3", CELERY_VISIBILITY_TIMEOUT="120",
                    MONOLITH_URL="http://mono:8001/")
    assert result.returncode == 0, result.stderr
    s = json.loads(result.stdout)
    assert s["OUTBOX_ROUTES"] == {"*": ["monolith", "audit"]}
    assert s["CELERY_TASK_DEFAULT_QUEUE"] == "payments-2"
    assert s["MONOLITH_URL"] == "http://mono:8001"
    assert s["CELERY_BROKER_URL"] == "redis://broker.example:6379/3"
    assert s["CELERY_BROKER_TRANSPORT_OPTIONS"] == {"visibility_timeout": 120}


def test_the_filesystem_broker_is_refused(tmp_path):
    """kombu's filesystem transport can hand a worker a half-written message (the worker dies)."""
    result = _setup(tmp_path, CELERY_BROKER_URL="filesystem://")
    assert result.returncode != 0
    assert "half-written" in result.stderr


@pytest.mark.parametrize(("env", "missing"), [
    ({}, "SECRET_KEY"),
    ({"SECRET_KEY": "s3cret"}, "INTERNAL_AUTH_SECRET"),
])
def test_production_refuses_the_development_secrets(tmp_path, env, missing):
    result = _setup(tmp_path, DEBUG="0", **env)
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr and missing in result.stderr


def test_production_starts_with_both_secrets(tmp_path):
    result = _setup(tmp_path, DEBUG="0", SECRET_KEY="s3cret", INTERNAL_AUTH_SECRET="sh4red")
    assert result.returncode == 0, result.stderr
