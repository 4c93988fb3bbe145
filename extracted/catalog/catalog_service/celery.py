"""The service's Celery app. Its broker is shared with the monolith; its worker consumes only the
``catalog`` queue:

    celery -A catalog_service worker -Q catalog

Outbox rows are published by the kit's relay: ``python manage.py relay_outbox --loop``.
"""

import os

from celery import Celery, signals

from strangler.django.tracing import tracing_setup

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "catalog_service.settings")

app = Celery("catalog_service")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@signals.worker_init.connect(weak=False)
def _worker_tracing(**_kwargs: object) -> None:
    """Tracing in the worker only (the web processes name themselves in wsgi.py); a no-op unless
    OTEL_* turns tracing on."""
    tracing_setup("catalog-service-worker")
