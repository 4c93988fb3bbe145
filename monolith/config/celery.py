"""The monolith's Celery app; its broker is Redis when configured, else an embedded filesystem queue."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "monolith.config.settings")

app = Celery("monolith")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
