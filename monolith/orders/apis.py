"""HTTP endpoints of orders: thin views over services and selectors.

Status codes: POST /orders/ 201; checkout 200 with the confirmed order (also when it was
already confirmed), 202 with the order ``awaiting_payment`` when the charge's outcome is unknown
(the processor did not answer: the card may have been charged; stock stays reserved; retry with
the same Idempotency-Key, or let the sweep settle it: the processor is asked again with the same
key, never charged twice; not stored under the key), 402 when the charge was refused (stock
released, order failed; code is the processor's reason: card_declined, insufficient_funds, ...), 409 for
a failed or cancelled order, insufficient stock, or a checkout still in flight, 503 with
Retry-After when payments cannot be reached (stock stays reserved; the same Idempotency-Key
resumes the checkout later and charges at most once). Cancel: 200 with the cancelled order
(stock back, captures refunded; idempotent), 404 someone else's, 409 order_failed, or transient
checkout_in_progress / payment_outcome_unknown (not stored under the key).
"""

from __future__ import annotations

import uuid

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from monolith.kernel.fields import CurrencyField, StrictCharField, StrictIntegerField, StrictUUIDField
from monolith.orders.models import Order
from monolith.orders.selectors import order_get, order_list
from monolith.orders.services import (
    CARD_TOKEN_MAX,
    MAX_LINES,
    MAX_QUANTITY,
    CheckoutInProgress,
    OrderLineInput,
    order_cancel,
    order_checkout,
    order_create,
)
from monolith.payments.interface import PaymentsUnavailable
from strangler.django.idempotency import services as idempotency


class OrderLineOutputSerializer(serializers.Serializer):
    product_id = serializers.UUIDField()
    sku = serializers.CharField()
    quantity = serializers.IntegerField()
    unit_price_minor = serializers.IntegerField()
    line_total_minor = serializers.IntegerField()

    class Meta:
        ref_name = "OrderLine"


class OrderOutputSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    status = serializers.ChoiceField(choices=Order.STATUSES)
    total_minor = serializers.IntegerField()
    currency = serializers.CharField()
    created_at = serializers.DateTimeField()
    lines = OrderLineOutputSerializer(many=True, source="lines.all")
    payment_id = serializers.SerializerMethodField()
    failure_reason = serializers.SerializerMethodField()

    class Meta:
        ref_name = "Order"

    def get_payment_id(self, order: Order) -> uuid.UUID | None:
        saga = getattr(order, "saga", None)
        return saga.payment_id if saga else None

    def get_failure_reason(self, order: Order) -> str:
        saga = getattr(order, "saga", None)
        return saga.failure_reason if saga else ""


class OrderListCreateApi(APIView):
    class InputSerializer(serializers.Serializer):
        class LineSerializer(serializers.Serializer):
            product_id = StrictUUIDField()
            quantity = StrictIntegerField(min_value=1, max_value=MAX_QUANTITY)

            class Meta:
                ref_name = "OrderLineInput"

        lines = LineSerializer(many=True, allow_empty=False, max_length=MAX_LINES)
        currency = CurrencyField(required=False)

        class Meta:
            ref_name = "OrderCreateInput"

    OutputSerializer = OrderOutputSerializer

    @extend_schema(responses={200: OrderOutputSerializer(many=True)})
    def get(self, request: Request) -> Response:
        return Response(self.OutputSerializer(order_list(user_id=request.user.pk), many=True).data)

    @extend_schema(
        request=InputSerializer, parameters=[idempotency.OPENAPI_PARAMETER],
        responses={201: OrderOutputSerializer,
                   400: OpenApiResponse(description="invalid input or Idempotency-Key"),
                   422: OpenApiResponse(description="unknown_product, duplicate_product, currency_mismatch, "
                                                    "amount_out_of_range, or idempotency key reused with another body")},
    )
    def post(self, request: Request) -> Response:
        return idempotency.idempotent(request, scope=f"orders.create:{request.user.pk}",
                                      handler=lambda: self._create(request))

    def _create(self, request: Request) -> Response:
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        order = order_create(
            user_id=request.user.pk,
            lines=[OrderLineInput(**line) for line in data.validated_data["lines"]],
            currency=data.validated_data.get("currency"),
        )
        return Response(self.OutputSerializer(order_get(order_id=order.id)).data, status=status.HTTP_201_CREATED)


class OrderDetailApi(APIView):
    OutputSerializer = OrderOutputSerializer

    @extend_schema(responses={200: OrderOutputSerializer, 404: OpenApiResponse(description="not yours or missing")})
    def get(self, request: Request, order_id: uuid.UUID) -> Response:
        return Response(self.OutputSerializer(order_get(order_id=order_id, user_id=request.user.pk)).data)


# Seconds a client waits before asking again about a checkout whose charge outcome is unknown.
RETRY_AFTER = 2


class OrderCheckoutApi(APIView):
    class InputSerializer(serializers.Serializer):
        card_token = StrictCharField(max_length=CARD_TOKEN_MAX)

        class Meta:
            ref_name = "OrderCheckoutInput"

    OutputSerializer = OrderOutputSerializer

    @extend_schema(
        request=InputSerializer, parameters=[idempotency.OPENAPI_PARAMETER],
        responses={200: OrderOutputSerializer,
                   202: OpenApiResponse(OrderOutputSerializer, description=(
                       "awaiting_payment: the charge's outcome is unknown (the processor did not answer; the "
                       "card may have been charged). Stock stays reserved. Retry with the same Idempotency-Key "
                       "after Retry-After, or read the order later: it is asked again with the same key, never "
                       "charged twice. Not stored under the key.")),
                   402: OpenApiResponse(description="charge refused; stock released, order failed"),
                   404: OpenApiResponse(description="not yours or missing"),
                   409: OpenApiResponse(description="order failed/cancelled, insufficient_stock, checkout_in_progress"),
                   422: OpenApiResponse(description="idempotency key reused with another body"),
                   503: OpenApiResponse(description="payments_unavailable: retry with the same key after "
                                                    "Retry-After seconds")},
    )
    def post(self, request: Request, order_id: uuid.UUID) -> Response:
        # Transient outcomes are not stored under the key: a retry with it must run the saga again.
        return idempotency.idempotent(request, scope=f"orders.checkout:{request.user.pk}",
                                      handler=lambda: self._checkout(request, order_id),
                                      transient=(CheckoutInProgress, PaymentsUnavailable), resumable=True)

    def _checkout(self, request: Request, order_id: uuid.UUID) -> Response:
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        order = order_checkout(order_id=order_id, user_id=request.user.pk, card_token=data.validated_data["card_token"])
        body = self.OutputSerializer(order_get(order_id=order.id)).data
        if order.status == Order.AWAITING_PAYMENT:
            return idempotency.transient_response(
                Response(body, status=status.HTTP_202_ACCEPTED, headers={"Retry-After": str(RETRY_AFTER)}))
        return Response(body)


class OrderCancelApi(APIView):
    OutputSerializer = OrderOutputSerializer

    @extend_schema(
        request=None, parameters=[idempotency.OPENAPI_PARAMETER],
        responses={200: OrderOutputSerializer,
                   404: OpenApiResponse(description="order_not_found: not yours or missing"),
                   409: OpenApiResponse(description="order_failed (nothing to cancel); checkout_in_progress or "
                                                    "payment_outcome_unknown (transient: retry after Retry-After "
                                                    "with the same key)"),
                   503: OpenApiResponse(description="payments_unavailable: retry with the same key after "
                                                    "Retry-After seconds"),
                   504: OpenApiResponse(description="processor_timeout on the refund: retry with the same key")},
        description=("Cancel the order: reserved stock is released, sold stock returned, every capture refunded "
                     "in full; the order ends cancelled. Idempotent: cancelling a cancelled order answers it again; "
                     "a retried cancel never refunds twice."),
    )
    def post(self, request: Request, order_id: uuid.UUID) -> Response:
        return idempotency.idempotent(request, scope=f"orders.cancel:{request.user.pk}",
                                      handler=lambda: self._cancel(request, order_id),
                                      transient=(CheckoutInProgress, PaymentsUnavailable), resumable=True)

    def _cancel(self, request: Request, order_id: uuid.UUID) -> Response:
        order = order_cancel(order_id=order_id, user_id=request.user.pk)
        return Response(self.OutputSerializer(order_get(order_id=order.id)).data)
