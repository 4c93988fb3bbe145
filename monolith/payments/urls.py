from django.urls import path

from monolith.payments import apis

urlpatterns = [
    path("", apis.PaymentListCreateApi.as_view(), name="payment-list"),
    path("<uuid:payment_id>/", apis.PaymentDetailApi.as_view(), name="payment-detail"),
    path("<uuid:payment_id>/refunds/", apis.PaymentRefundApi.as_view(), name="payment-refunds"),
]
