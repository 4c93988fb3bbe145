"""Service-to-service payments endpoints, mounted at /internal/v1/payments/ behind an internal credential."""

from django.urls import path

from monolith.payments import internal_apis as apis

urlpatterns = [
    path("", apis.PaymentListInternalApi.as_view(), name="internal-payment-list"),
    path("charges/", apis.PaymentChargeInternalApi.as_view(), name="internal-payment-charges"),
    path("sync/import/", apis.PaymentSyncImportInternalApi.as_view(), name="internal-payment-sync-import"),
    path("sync/checksums/", apis.PaymentChecksumsInternalApi.as_view(), name="internal-payment-sync-checksums"),
    path("<uuid:payment_id>/", apis.PaymentDetailInternalApi.as_view(), name="internal-payment-detail"),
    path("<uuid:payment_id>/refunds/", apis.PaymentRefundInternalApi.as_view(), name="internal-payment-refunds"),
]
