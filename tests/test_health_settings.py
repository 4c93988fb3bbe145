"""Probes and the settings' refusal to run in production with the development secret."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from monolith.config.celery import app as celery_app

ROOT = Path(__file__).resolve().parent.parent


def test_healthz(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


@pytest.mark.django_db
def test_readyz_ok_with_database_and_a_reachable_broker(client, monkeypatch, integration_redis):
    monkeypatch.setitem(celery_app.conf, "CELERY_BROKER_URL", integration_redis)
    response = client.get("/readyz")
    assert response.status_code == 200, response.content
    assert response.json() == {"status": "ok", "checks": {"database": "ok", "broker": "ok"}}


@pytest.mark.django_db
def test_readyz_503_when_the_broker_is_unreachable(client, monkeypatch):
    # Port 1 on loopback: nothing listens there, the connection is refused at once.
    # The app reads its namespaced (CELERY_) keys; setting "broker_url" alone would not change it.
    monkeypatch.setitem(celery_app.conf, "CELERY_BROKER_URL", "redis://127.0.0.1:1/0")
    monkeypatch.setitem(celery_app.conf, "CELERY_BROKER_TRANSPORT_OPTIONS", {})
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response["Content-Type"] == "application/json"
    body = response.json()
    assert body["status"] == "unavailable"
    assert body["checks"]["database"] == "ok"
    assert body["checks"]["broker"].startswith("error: ")


def _django_setup(**env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if k not in {"SECRET_KEY", "DEBUG", "INTERNAL_AUTH_SECRET"}}
    clean |= {"DJANGO_SETTINGS_MODULE": "monolith.config.settings", **env}
    return subprocess.run(
        [sys.executable, "-c", "import django; django.setup(); print('started')"],
        cwd=ROOT, env=clean, capture_output=True, text=True, timeout=60,
    )


def test_settings_refuse_production_with_the_default_secret_key():
    result = _django_setup(DEBUG="0")
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert "SECRET_KEY" in result.stderr


def test_settings_refuse_production_with_the_default_internal_secret():
    result = _django_setup(DEBUG="0", SECRET_KEY="a-real-secret-" + "x" * 40)
    assert result.returncode != 0
    assert "INTERNAL_AUTH_SECRET" in result.stderr


def test_settings_start_in_production_with_real_secrets():
    result = _django_setup(DEBUG="0", SECRET_KEY="a-real-secret-" + "x" * 40, INTERNAL_AUTH_SECRET="s" * 32)
    assert result.returncode == 0, result.stderr
    assert "started" in result.stdout
