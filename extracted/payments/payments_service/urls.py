"""Routes of the payments service: the same public and internal payments paths as the monolith."""

from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView

from payments_service import schema  # noqa: F401 - schema registers the auth scheme
from strangler.django import health

urlpatterns = [
    path("healthz", health.healthz),
    path("readyz", health.readyz),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/v1/payments/", include("monolith.payments.urls")),
    # Service to service, behind an internal credential of the monolith (strangler.django.internal_auth).
    path("internal/v1/payments/", include("monolith.payments.internal_urls")),
    path("internal/strangler/", include("strangler.django.urls")),  # counts the proxy's dashboard polls
]

handler404 = "strangler.django.errors.not_found_view"
handler500 = "strangler.django.errors.server_error_view"
