"""Service-to-service catalog endpoints, mounted at /internal/v1/catalog/ behind an internal credential."""

from django.urls import path

from monolith.catalog import internal_apis as apis

urlpatterns = [
    path("products/", apis.ProductListInternalApi.as_view(), name="internal-catalog-products"),
    path("products/<uuid:product_id>/", apis.ProductDetailInternalApi.as_view(), name="internal-catalog-product"),
    path("products/<uuid:product_id>/stock/", apis.ProductStockInternalApi.as_view(), name="internal-catalog-stock"),
    path("reservations/", apis.StockReserveInternalApi.as_view(), name="internal-catalog-reserve"),
    path("reservations/<uuid:order_id>/commit/", apis.StockCommitInternalApi.as_view(),
         name="internal-catalog-commit"),
    path("reservations/<uuid:order_id>/release/", apis.StockReleaseInternalApi.as_view(),
         name="internal-catalog-release"),
    path("reservations/<uuid:order_id>/return/", apis.StockReturnInternalApi.as_view(),
         name="internal-catalog-return"),
]
