"""Service-to-service payments endpoints, mounted at /internal/v1/payments/ behind an internal credential."""

from django.urls import path

from monolith.payments import internal_apis as apis
from strangler.django.extraction.views import SyncChecksumsView, SyncImportView

urlpatterns = [
    path("", apis.PaymentListInternalApi.as_view(), name="internal-payment-list"),
    path("charges/", apis.PaymentChargeInternalApi.as_view(), name="internal-payment-charges"),
    path("sync/import/", SyncImportView.as_view(context="payments"), name="internal-payment-sync-import"),
    path("sync/checksums/", SyncChecksumsView.as_view(context="payments"), name="internal-payment-sync-checksums"),
    path("<uuid:payment_id>/", apis.PaymentDetailInternalApi.as_view(), name="internal-payment-detail"),
    path("<uuid:payment_id>/refunds/", apis.PaymentRefundInternalApi.as_view(), name="internal-payment-refunds"),
]
