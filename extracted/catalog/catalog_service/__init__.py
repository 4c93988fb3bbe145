"""The catalog service: its own Django project on the Strangler Kit (settings, urls, wsgi, Celery app).

It runs the monolith's ``monolith.catalog`` app as a library. In an image it is on PYTHONPATH; in a
checkout the monolith's source folder (``MONOLITH_SOURCE``, relative to this service) is added to
``sys.path`` (at the end, so an installed copy wins) only when ``monolith`` is not importable
otherwise. That keeps ``python manage.py ...``, gunicorn and celery working from this folder.
"""

import importlib.util
import sys
from pathlib import Path

SERVICE_DIR = Path(__file__).resolve().parent.parent
MONOLITH_SOURCE = "../.."
MONOLITH_PACKAGE = "monolith"


def _ensure_monolith_importable() -> None:
    if importlib.util.find_spec(MONOLITH_PACKAGE) is None:
        sys.path.append(str((SERVICE_DIR / MONOLITH_SOURCE).resolve()))


_ensure_monolith_importable()

from catalog_service.celery import app as celery_app  # noqa: E402 - needs the path fixed first

__all__ = ["celery_app"]
