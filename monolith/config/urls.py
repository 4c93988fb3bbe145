from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView

from strangler.django import health

urlpatterns = [
    path("healthz", health.healthz),
    path("readyz", health.readyz),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/v1/users/", include("monolith.users.urls")),
    path("api/v1/products/", include("monolith.catalog.urls")),
    path("api/v1/orders/", include("monolith.orders.urls")),
    path("api/v1/payments/", include("monolith.payments.urls")),
    # Service to service, behind an internal credential (strangler.django.internal_auth).
    path("internal/v1/users/", include("monolith.users.internal_urls")),
    path("internal/v1/orders/", include("monolith.orders.internal_urls")),
    path("internal/v1/payments/", include("monolith.payments.internal_urls")),
    # The catalog's reads and stock steps as the catalog service serves them (the same views), so the
    # monolith's implementation is verified against the same pacts of orders' remote catalog client.
    path("internal/v1/catalog/", include("monolith.catalog.internal_urls")),
    path("internal/strangler/", include("strangler.django.urls")),  # counts the proxy's dashboard polls
]

handler404 = "strangler.django.errors.not_found_view"
handler500 = "strangler.django.errors.server_error_view"
