from django.urls import path

from monolith.catalog import apis

urlpatterns = [
    path("", apis.ProductListApi.as_view(), name="product-list"),
    path("<uuid:product_id>/", apis.ProductDetailApi.as_view(), name="product-detail"),
    path("<uuid:product_id>/stock/", apis.ProductStockApi.as_view(), name="product-stock"),
]
