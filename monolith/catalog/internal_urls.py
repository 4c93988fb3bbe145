"""Service-to-service catalog endpoints, mounted at /internal/v1/catalog/ behind an internal credential."""

from django.urls import path

from monolith.catalog import custody_apis
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
    path("custody/", custody_apis.CustodyStateApi.as_view(), name="internal-catalog-custody"),
    path("custody/fence/", custody_apis.CustodyFenceApi.as_view(), name="internal-catalog-custody-fence"),
    path("custody/levels/", custody_apis.CustodyLevelsApi.as_view(), name="internal-catalog-custody-levels"),
    path("custody/reservations/", custody_apis.CustodyReservationsApi.as_view(),
         name="internal-catalog-custody-reservations"),
    path("custody/activate/", custody_apis.CustodyActivateApi.as_view(), name="internal-catalog-custody-activate"),
    path("custody/retire/", custody_apis.CustodyRetireApi.as_view(), name="internal-catalog-custody-retire"),
    path("custody/abandon/", custody_apis.CustodyAbandonApi.as_view(), name="internal-catalog-custody-abandon"),
    path("custody/abort/", custody_apis.CustodyAbortApi.as_view(), name="internal-catalog-custody-abort"),
]
