"""HTTP endpoints of payments: thin views over services and selectors.

Status codes: 201 captured charge or refund; 402 declined charge (card_declined,
insufficient_funds, expired_card, invalid_card: the failed payment is recorded); 504
processor_timeout (also recorded as failed; a replay with the same key returns the same 504
without charging again); 409 refund over the refundable amount; 422 currency mismatch.
"""

from __future__ import annotations

import uuid

from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from monolith.kernel import idempotency
from monolith.kernel.errors import error_body
from monolith.kernel.fields import AmountMinorField, CurrencyField, StrictCharField, StrictUUIDField
from monolith.kernel.money import Money
from monolith.payments.models import Payment
from monolith.payments.selectors import payment_get, payment_list
from monolith.payments.services import CARD_TOKEN_MAX, PROCESSOR_TIMEOUT, payment_charge, payment_refund


class RefundOutputSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    payment_id = serializers.UUIDField()
    amount_minor = serializers.IntegerField()
    currency = serializers.CharField()
    created_at = serializers.DateTimeField()

    class Meta:
        ref_name = "PaymentRefund"


class PaymentOutputSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    order_id = serializers.UUIDField()
    amount_minor = serializers.IntegerField()
    currency = serializers.CharField()
    status = serializers.ChoiceField(choices=Payment.STATUSES)
    failure_reason = serializers.CharField()
    captured_minor = serializers.IntegerField()
    refunded_minor = serializers.IntegerField()
    created_at = serializers.DateTimeField()
    refunds = RefundOutputSerializer(many=True, source="refunds.all")

    class Meta:
        ref_name = "Payment"


class RefundResultSerializer(serializers.Serializer):
    """A refund as its POST answers it (public and internal API alike)."""

    id = serializers.UUIDField()
    payment_id = serializers.UUIDField()
    amount_minor = serializers.IntegerField()
    currency = serializers.CharField()
    refunded_total_minor = serializers.IntegerField(source="payment.refunded_minor")
    created_at = serializers.DateTimeField()

    class Meta:
        ref_name = "PaymentRefundResult"


def _failure_response(payment: Payment) -> Response:
    if payment.failure_reason == PROCESSOR_TIMEOUT:
        message, code = "the payment processor did not answer; the payment was recorded as failed", 504
    else:
        message, code = f"the charge was refused ({payment.failure_reason})", 402
    message += f"; payment {payment.id}"
    body = error_body(payment.failure_reason, message, {"card_token": [payment.failure_reason]})
    return Response(body, status=code)


class PaymentListCreateApi(APIView):
    class InputSerializer(serializers.Serializer):
        order_id = StrictUUIDField()
        amount_minor = AmountMinorField()
        currency = CurrencyField()
        card_token = StrictCharField(max_length=CARD_TOKEN_MAX)

        class Meta:
            ref_name = "PaymentChargeInput"

    class FilterSerializer(serializers.Serializer):
        order_id = serializers.UUIDField(required=False)

    OutputSerializer = PaymentOutputSerializer

    @extend_schema(parameters=[OpenApiParameter("order_id", uuid.UUID, OpenApiParameter.QUERY)],
                   responses={200: PaymentOutputSerializer(many=True)})
    def get(self, request: Request) -> Response:
        filters = self.FilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        payments = payment_list(user_id=request.user.pk, **filters.validated_data).prefetch_related("refunds")
        return Response(self.OutputSerializer(payments, many=True).data)

    @extend_schema(
        request=InputSerializer, parameters=[idempotency.OPENAPI_PARAMETER],
        responses={201: PaymentOutputSerializer, 400: OpenApiResponse(description="invalid input or key missing"),
                   402: OpenApiResponse(description="declined: card_declined, insufficient_funds, ..."),
                   422: OpenApiResponse(description="idempotency key reused with another body"),
                   504: OpenApiResponse(description="processor_timeout; recorded as a failed payment")},
    )
    def post(self, request: Request) -> Response:
        return idempotency.idempotent(request, scope=f"payments.charge:{request.user.pk}",
                                      handler=lambda: self._charge(request))

    def _charge(self, request: Request) -> Response:
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        payment = payment_charge(
            order_id=data.validated_data["order_id"], user_id=request.user.pk,
            amount=Money(data.validated_data["amount_minor"], data.validated_data["currency"]),
            card_token=data.validated_data["card_token"],
            idempotency_key=f"api:{request.user.pk}:{request.headers[idempotency.HEADER]}",
        )
        if payment.status == Payment.FAILED:
            return _failure_response(payment)
        return Response(self.OutputSerializer(payment).data, status=status.HTTP_201_CREATED)


class PaymentDetailApi(APIView):
    OutputSerializer = PaymentOutputSerializer

    @extend_schema(responses={200: PaymentOutputSerializer, 404: OpenApiResponse(description="not yours or missing")})
    def get(self, request: Request, payment_id: uuid.UUID) -> Response:
        return Response(self.OutputSerializer(payment_get(payment_id=payment_id, user_id=request.user.pk)).data)


class PaymentRefundApi(APIView):
    class InputSerializer(serializers.Serializer):
        amount_minor = AmountMinorField(required=False)
        currency = CurrencyField(required=False)

        class Meta:
            ref_name = "PaymentRefundInput"

    OutputSerializer = RefundResultSerializer

    @extend_schema(
        request=InputSerializer, parameters=[idempotency.OPENAPI_PARAMETER],
        responses={201: OutputSerializer, 404: OpenApiResponse(description="not yours or missing"),
                   409: OpenApiResponse(description="refund_exceeds_captured, already_refunded, payment_not_captured"),
                   422: OpenApiResponse(description="currency_mismatch or idempotency key reused")},
    )
    def post(self, request: Request, payment_id: uuid.UUID) -> Response:
        return idempotency.idempotent(request, scope=f"payments.refund:{request.user.pk}",
                                      handler=lambda: self._refund(request, payment_id))

    def _refund(self, request: Request, payment_id: uuid.UUID) -> Response:
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        payment = payment_get(payment_id=payment_id, user_id=request.user.pk)
        amount_minor = data.validated_data.get("amount_minor")
        currency = data.validated_data.get("currency", payment.currency)
        refund = payment_refund(
            payment_id=payment.id, currency=currency,
            amount=None if amount_minor is None else Money(amount_minor, currency),
            idempotency_key=f"api:{request.user.pk}:{request.headers[idempotency.HEADER]}",
        )
        return Response(self.OutputSerializer(refund).data, status=status.HTTP_201_CREATED)
