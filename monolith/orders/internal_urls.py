"""Service-to-service endpoints of orders, mounted at /internal/v1/orders/."""

from django.urls import path

from monolith.orders.internal_apis import OrderOwnerApi

urlpatterns = [
    path("<uuid:order_id>/owner/", OrderOwnerApi.as_view(), name="orders-internal-owner"),
]
