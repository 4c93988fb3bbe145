"""The payments service project: settings, urls, Celery app and end-user authentication.

It reuses two apps of the monolith package as libraries (``monolith.kernel`` and
``monolith.payments``). The image puts them on PYTHONPATH; in a development checkout they sit at
the repository root, which is added to ``sys.path`` (at the end, so an installed copy wins) only
when ``monolith`` is not importable otherwise. That keeps ``python manage.py ...``, gunicorn and
celery working from ``extracted/payments`` without extra environment.
"""

import importlib.util
import sys
from pathlib import Path


def _ensure_monolith_importable() -> None:
    if importlib.util.find_spec("monolith") is not None:
        return
    repo_root = Path(__file__).resolve().parents[3]
    if (repo_root / "monolith" / "kernel").is_dir():
        sys.path.append(str(repo_root))


_ensure_monolith_importable()

from payments_service.celery import app as celery_app  # noqa: E402 - needs the path fixed first

__all__ = ["celery_app"]
