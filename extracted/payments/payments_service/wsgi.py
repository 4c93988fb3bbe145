"""WSGI entry point: ``gunicorn payments_service.wsgi -k gthread``."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "payments_service.settings")
application = get_wsgi_application()
