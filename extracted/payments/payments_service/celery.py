"""The service's Celery app. Its broker is shared with the monolith (Redis, or the same filesystem
queue folder under `make run`); its worker consumes only the ``payments`` queue:

    celery -A payments_service worker -Q payments

Outbox rows are published by the kernel's relay: ``python manage.py relay_outbox --loop``.
"""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "payments_service.settings")

app = Celery("payments_service")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
