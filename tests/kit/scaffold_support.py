"""Running a scaffolded service's own tests the way its team would: ``python -m pytest`` in its folder,
with none of this session's Django settings, database or broker in the environment."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

# The generated test's /readyz asks a real broker; this suite's Redis database for it.
SCAFFOLD_REDIS_URL = os.environ.get("SCAFFOLD_REDIS_URL", "redis://127.0.0.1:6379/13")
SERVICE_TEST_TIMEOUT = 240  # seconds: two manage.py runs, a server start, three checks
DROPPED = frozenset({"DJANGO_SETTINGS_MODULE", "DATABASE_URL", "CELERY_BROKER_URL", "REDIS_URL", "PYTHONPATH",
                     "VAR_DIR", "DEBUG", "SECRET_KEY", "INTERNAL_AUTH_SECRET", "INTERNAL_AUTH_KEYS"})


def clean_env(**extra: str) -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k not in DROPPED} | extra


def service_tests_run(service_dir: Path, *paths: str) -> subprocess.CompletedProcess:
    """The service's own tests (``paths``, else its pyproject's testpaths), run from its folder."""
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *paths], cwd=service_dir,
                          env=clean_env(SERVICE_TEST_BROKER_URL=SCAFFOLD_REDIS_URL), capture_output=True, text=True,
                          timeout=SERVICE_TEST_TIMEOUT)


def tree_snapshot(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}
