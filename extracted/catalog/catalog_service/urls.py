"""Routes of the catalog service: health probes, the context's own URL modules under the prefixes the
monolith mounts them at, the extraction engine's sync endpoints and the kit's status."""

from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView

from strangler.django import health
from strangler.django.extraction.views import SyncChecksumsView, SyncImportView

CONTEXT = "catalog"

urlpatterns = [
    path("healthz", health.healthz),
    path("readyz", health.readyz),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/v1/products/", include("monolith.catalog.urls")),
    # Service to service, behind an internal credential of the monolith (strangler.django.internal_auth):
    # the monolith's strangler_backfill and strangler_reconcile write and compare rows here.
    path("internal/v1/catalog/sync/import/", SyncImportView.as_view(context=CONTEXT)),
    path("internal/v1/catalog/sync/checksums/", SyncChecksumsView.as_view(context=CONTEXT)),
    # The stock steps and reads the monolith's orders use (monolith/catalog/interface.py), same credential.
    path("internal/v1/catalog/", include("monolith.catalog.internal_urls")),
    path("internal/strangler/", include("strangler.django.urls")),  # counts the proxy's dashboard polls
]

handler404 = "strangler.django.errors.not_found_view"
handler500 = "strangler.django.errors.server_error_view"
