"""WSGI entry point: ``gunicorn catalog_service.wsgi -k gthread``."""

import os

from django.core.wsgi import get_wsgi_application

from strangler.django.tracing import tracing_setup

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "catalog_service.settings")
# Before the handler loads the middleware (Django's instrumentation adds its own); once per worker.
tracing_setup("catalog-service")
application = get_wsgi_application()
