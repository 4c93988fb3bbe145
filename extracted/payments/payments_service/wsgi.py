"""WSGI entry point: ``gunicorn payments_service.wsgi -k gthread``."""

import os

from django.core.wsgi import get_wsgi_application

from strangler.django.tracing import tracing_setup

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "payments_service.settings")
# Before the handler loads the middleware (Django's instrumentation adds its own); once per worker.
tracing_setup("payments-service")
application = get_wsgi_application()
