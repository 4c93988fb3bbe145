"""Service-to-service catalog endpoints (/internal/v1/catalog/): the reads and the stock steps the
monolith's checkout saga uses (interface.py), so a remote implementation can call the catalog service.

The internal credential is checked by strangler.django.internal_auth before these views run; they
carry no user. Reserve, commit, release and return need an Idempotency-Key and go through the kit's
idempotency (strangler.django.idempotency): the same key and body replay the first answer, the same
key with another body is 422 idempotency_key_reused, a key still running is 409 request_in_progress.
Keys are scoped per operation and per calling service. Each step is also idempotent per order in
the domain (services.py), so a failed request is resumable: its key is released, never stuck on a 500.

A release or return of an order that never reserved anything is not an error (the saga's
compensation must be able to run blindly): 200 with ``state`` ``"none"`` and no lines, which a
remote client maps to the interface's ``None``. Errors use the kit's error shape.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from monolith.catalog.apis import ProductOutputSerializer, ProductStockApi
from monolith.catalog.models import StockReservation
from monolith.catalog.selectors import product_get, products_get_many, stock_get
from monolith.catalog.services import StockLine, stock_commit, stock_release, stock_reserve, stock_return
from monolith.kernel.fields import StrictIntegerField, StrictUUIDField
from strangler.django.idempotency import services as idempotency
from strangler.django.query import QuerySerializer

MAX_LINES = 100  # the orders context's own limits per order
MAX_QUANTITY = 1000
MAX_IDS = 100  # products read in one products_get_many call
STATE_NONE = "none"  # release/return of an order without a reservation


class ReservationOutputSerializer(serializers.Serializer):
    id = serializers.UUIDField(allow_null=True)
    order_id = serializers.UUIDField()
    state = serializers.CharField()
    lines = serializers.ListField(child=serializers.DictField())

    class Meta:
        ref_name = "InternalStockReservation"


def _reservation_response(reservation: StockReservation | None, *, order_id: uuid.UUID) -> Response:
    if reservation is None:
        return Response({"id": None, "order_id": str(order_id), "state": STATE_NONE, "lines": []})
    return Response(ReservationOutputSerializer(reservation).data)


class InternalApi(APIView):
    """No user, no session: the internal credential (middleware) is the authentication."""

    authentication_classes: list = []
    permission_classes = [AllowAny]


class _KeyedStepApi(InternalApi):
    """A stock step run once per Idempotency-Key (scope: the step and the calling service)."""

    step = ""

    def _once(self, request: Request, handler: Callable[[], Response]) -> Response:
        scope = f"catalog.{self.step}:{request.internal_caller}"
        return idempotency.idempotent(request, scope=scope, handler=handler, resumable=True)


@extend_schema(exclude=True)
class ProductListInternalApi(InternalApi):
    class FilterSerializer(QuerySerializer):
        ids = serializers.CharField(help_text=f"comma-separated product ids, at most {MAX_IDS}")

    def get(self, request: Request) -> Response:
        filters = self.FilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        raw = [part.strip() for part in filters.validated_data["ids"].split(",")]
        ids = serializers.ListField(child=serializers.UUIDField(), max_length=MAX_IDS)
        try:
            product_ids = ids.run_validation(raw)
        except serializers.ValidationError as exc:
            raise serializers.ValidationError({"ids": exc.detail}) from exc
        products = products_get_many(product_ids=product_ids).values()
        return Response(ProductOutputSerializer(sorted(products, key=lambda p: p.sku), many=True).data)


@extend_schema(exclude=True)
class ProductDetailInternalApi(InternalApi):
    def get(self, request: Request, product_id: uuid.UUID) -> Response:
        return Response(ProductOutputSerializer(product_get(product_id=product_id)).data)


@extend_schema(exclude=True)
class ProductStockInternalApi(InternalApi):
    def get(self, request: Request, product_id: uuid.UUID) -> Response:
        return Response(ProductStockApi.OutputSerializer(stock_get(product_id=product_id)).data)


@extend_schema(exclude=True)
class StockReserveInternalApi(_KeyedStepApi):
    step = "stock_reserve"

    class InputSerializer(serializers.Serializer):
        class LineSerializer(serializers.Serializer):
            product_id = StrictUUIDField()
            quantity = StrictIntegerField(min_value=1, max_value=MAX_QUANTITY)

        order_id = StrictUUIDField()
        lines = LineSerializer(many=True, allow_empty=False, max_length=MAX_LINES)

    def post(self, request: Request) -> Response:
        return self._once(request, lambda: self._reserve(request))

    def _reserve(self, request: Request) -> Response:
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        lines = [StockLine(product_id=line["product_id"], quantity=line["quantity"])
                 for line in data.validated_data["lines"]]
        reservation = stock_reserve(order_id=data.validated_data["order_id"], lines=lines)
        return _reservation_response(reservation, order_id=reservation.order_id)


@extend_schema(exclude=True)
class StockCommitInternalApi(_KeyedStepApi):
    step = "stock_commit"

    def post(self, request: Request, order_id: uuid.UUID) -> Response:
        return self._once(request, lambda: _reservation_response(stock_commit(order_id=order_id), order_id=order_id))


@extend_schema(exclude=True)
class StockReleaseInternalApi(_KeyedStepApi):
    step = "stock_release"

    def post(self, request: Request, order_id: uuid.UUID) -> Response:
        return self._once(request, lambda: _reservation_response(stock_release(order_id=order_id), order_id=order_id))


@extend_schema(exclude=True)
class StockReturnInternalApi(_KeyedStepApi):
    step = "stock_return"

    def post(self, request: Request, order_id: uuid.UUID) -> Response:
        return self._once(request, lambda: _reservation_response(stock_return(order_id=order_id), order_id=order_id))
