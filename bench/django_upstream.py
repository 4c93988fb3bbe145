"""A minimal standalone Django app for the proxy benchmark: one small JSON view, no database.

Run with gunicorn gthread workers (sync workers answer ``Connection: close``, which would
benchmark TCP handshakes instead of the proxy): ``gunicorn -k gthread bench.django_upstream``.
"""

from __future__ import annotations

import django
from django.conf import settings

if not settings.configured:
    settings.configure(
        DEBUG=False,
        SECRET_KEY="bench-only-not-secret",
        ALLOWED_HOSTS=["*"],
        ROOT_URLCONF=__name__,
        MIDDLEWARE=["django.middleware.common.CommonMiddleware"],
        INSTALLED_APPS=[],
        USE_TZ=True,
    )
    django.setup()

from django.core.wsgi import get_wsgi_application  # noqa: E402
from django.http import HttpRequest, JsonResponse  # noqa: E402
from django.urls import path  # noqa: E402


def item(request: HttpRequest, pk: int) -> JsonResponse:
    return JsonResponse({"id": pk, "name": "widget", "price": "9.99", "tags": ["a", "b"]})


urlpatterns = [path("api/items/<int:pk>", item)]

application = get_wsgi_application()
