"""The monolith's Celery app; its broker is Redis when configured, else an embedded filesystem queue."""

import os

from celery import Celery, signals

from strangler.django.tracing import tracing_setup

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "monolith.config.settings")

app = Celery("monolith")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@signals.worker_init.connect(weak=False)
def _worker_tracing(**_kwargs: object) -> None:
    """Tracing in the worker only: every process imports this module (monolith.config), and the
    web processes name themselves in wsgi.py. A no-op unless OTEL_* turns tracing on."""
    tracing_setup("monolith-worker")
