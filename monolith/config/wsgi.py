import os

from django.core.wsgi import get_wsgi_application

from strangler.django.tracing import tracing_setup

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "monolith.config.settings")
# Before the handler loads the middleware (Django's instrumentation adds its own). gunicorn imports
# this module in each worker after the fork, so each worker builds its own exporter.
tracing_setup("monolith")
application = get_wsgi_application()
