"""HTTP endpoints of the catalog: public, read-only."""

from __future__ import annotations

import uuid

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from monolith.catalog.selectors import product_get, product_list, stock_get


class ProductOutputSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    sku = serializers.CharField()
    name = serializers.CharField()
    description = serializers.CharField()
    price_minor = serializers.IntegerField()
    currency = serializers.CharField()
    active = serializers.BooleanField()
    available = serializers.SerializerMethodField()

    class Meta:
        ref_name = "Product"

    def get_available(self, product) -> int:
        stock = getattr(product, "stock", None)
        return stock.available if stock else 0


class _PublicApi(APIView):
    authentication_classes: list = []
    permission_classes = [AllowAny]


class ProductListApi(_PublicApi):
    OutputSerializer = ProductOutputSerializer

    @extend_schema(responses={200: ProductOutputSerializer(many=True)})
    def get(self, request: Request) -> Response:
        return Response(self.OutputSerializer(product_list(), many=True).data)


class ProductDetailApi(_PublicApi):
    OutputSerializer = ProductOutputSerializer

    @extend_schema(responses={200: ProductOutputSerializer, 404: OpenApiResponse(description="no such product")})
    def get(self, request: Request, product_id: uuid.UUID) -> Response:
        return Response(self.OutputSerializer(product_get(product_id=product_id)).data)


class ProductStockApi(_PublicApi):
    class OutputSerializer(serializers.Serializer):
        product_id = serializers.UUIDField()
        on_hand = serializers.IntegerField()
        reserved = serializers.IntegerField()
        available = serializers.IntegerField()

        class Meta:
            ref_name = "ProductStock"

    @extend_schema(responses={200: OutputSerializer, 404: OpenApiResponse(description="no such product")})
    def get(self, request: Request, product_id: uuid.UUID) -> Response:
        return Response(self.OutputSerializer(stock_get(product_id=product_id)).data)
