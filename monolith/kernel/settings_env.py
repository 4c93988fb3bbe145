"""Settings every project built on the kernel reads the same way from the environment: its
database and its Celery broker. Imported by settings modules, so it touches no Django app."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import dj_database_url


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


def celery_broker_from_env(broker_dir: Path) -> tuple[str, dict[str, Any]]:
    """(broker URL, transport options): Redis when ``CELERY_BROKER_URL`` or ``REDIS_URL`` says so,
    else kombu's filesystem transport in ``broker_dir``, which works across processes (and
    projects pointed at the same folder) with no server to install."""
    url = os.environ.get("CELERY_BROKER_URL") or os.environ.get("REDIS_URL") or "filesystem://"
    if not url.startswith("filesystem://"):
        # A message taken by a worker that lost the broker before acking comes back after this long;
        # consumers are idempotent, so an early redelivery costs a skipped duplicate, not a double effect.
        return url, {"visibility_timeout": int(os.environ.get("CELERY_VISIBILITY_TIMEOUT", "3600"))}
    for sub in ("queue", "processed", "control"):
        (broker_dir / sub).mkdir(parents=True, exist_ok=True)
    return url, {
        "data_folder_in": str(broker_dir / "queue"),
        "data_folder_out": str(broker_dir / "queue"),
        "processed_folder": str(broker_dir / "processed"),
        "control_folder": str(broker_dir / "control"),
        "store_processed": False,
        # An idle worker looks for new files this often (kombu's default, 1 s, is most of the sync lag).
        "polling_interval": 0.2,
    }
