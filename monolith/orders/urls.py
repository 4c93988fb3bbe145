from django.urls import path

from monolith.orders import apis

urlpatterns = [
    path("", apis.OrderListCreateApi.as_view(), name="order-list"),
    path("<uuid:order_id>/", apis.OrderDetailApi.as_view(), name="order-detail"),
    path("<uuid:order_id>/checkout/", apis.OrderCheckoutApi.as_view(), name="order-checkout"),
    path("<uuid:order_id>/cancel/", apis.OrderCancelApi.as_view(), name="order-cancel"),
]
