"""Service-to-service endpoints of orders, behind an internal credential.

An extracted service that takes charges for orders (payments) holds no orders: before a user's
public charge it asks here whose order it is. The answer says only that: the id and its owner.
"""

from __future__ import annotations

import uuid

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from monolith.orders.selectors import order_get


class OrderOwnerApi(APIView):
    # The kit's InternalCredentialMiddleware has already checked the caller's credential;
    # there is no end user on this call, so no DRF authentication or permission applies.
    authentication_classes: list = []
    permission_classes = [AllowAny]

    class OutputSerializer(serializers.Serializer):
        id = serializers.UUIDField()
        user_id = serializers.UUIDField()

        class Meta:
            ref_name = "OrderOwner"

    @extend_schema(
        responses={200: OutputSerializer, 404: OpenApiResponse(description="order_not_found"),
                   401: OpenApiResponse(description="internal_credential_required")},
    )
    def get(self, request: Request, order_id: uuid.UUID) -> Response:
        order = order_get(order_id=order_id)  # NotFound (404, order_not_found) when there is none
        return Response(self.OutputSerializer({"id": order.id, "user_id": order.user_id}).data)
