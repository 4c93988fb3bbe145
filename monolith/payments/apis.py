"""HTTP endpoints of payments: thin views over services and selectors.

Status codes: 201 captured charge or refund; 202 charge whose outcome is unknown (the processor
did not answer: the payment stays ``pending`` with ``outcome_unknown``; the card may have been
charged; retry with the same Idempotency-Key, which asks the processor again with the same key and
never charges twice; this answer is not stored under the key); 402 declined charge (card_declined,
insufficient_funds, expired_card, invalid_card: the failed payment is recorded); 409 refund over the
refundable amount; 422 currency mismatch; 504 processor_timeout on a refund (retry with the key).
"""

from __future__ import annotations

import uuid

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from monolith.kernel.fields import AmountMinorField, CurrencyField, StrictCharField, StrictUUIDField
from monolith.kernel.money import Money
from monolith.payments.models import Payment
from monolith.payments.ownership import order_ownership_check
from monolith.payments.selectors import payment_get, payment_list
from monolith.payments.services import CARD_TOKEN_MAX, payment_charge, payment_outcome_unknown, payment_refund
from strangler.django.errors import error_body
from strangler.django.idempotency import services as idempotency
from strangler.django.query import QuerySerializer


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
    status = serializers.ChoiceField(choices=Payment.STATUSES, help_text=(
        "pending: the outcome is not known yet (see outcome_unknown); captured; failed (refused)."))
    failure_reason = serializers.CharField(help_text=(
        "failed: the refusal (card_declined, insufficient_funds, ...). pending: processor_timeout "
        "when the processor was asked and did not answer."))
    outcome_unknown = serializers.SerializerMethodField(help_text=(
        "True while the processor's answer is unknown (it timed out): the card may have been charged. "
        "Retry with the same Idempotency-Key until the payment is captured or failed; it is never "
        "charged twice."))
    captured_minor = serializers.IntegerField()
    refunded_minor = serializers.IntegerField()
    created_at = serializers.DateTimeField()
    refunds = RefundOutputSerializer(many=True, source="refunds.all")

    class Meta:
        ref_name = "Payment"

    def get_outcome_unknown(self, payment: Payment) -> bool:
        return payment_outcome_unknown(payment)


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
    message = f"the charge was refused ({payment.failure_reason}); payment {payment.id}"
    body = error_body(payment.failure_reason, message, {"card_token": [payment.failure_reason]})
    return Response(body, status=402)


# Seconds a client waits before asking again about a charge whose outcome is unknown.
RETRY_AFTER = 2


class PaymentListCreateApi(APIView):
    class InputSerializer(serializers.Serializer):
        order_id = StrictUUIDField()
        amount_minor = AmountMinorField()
        currency = CurrencyField()
        card_token = StrictCharField(max_length=CARD_TOKEN_MAX)

        class Meta:
            ref_name = "PaymentChargeInput"

    class FilterSerializer(QuerySerializer):
        order_id = serializers.UUIDField(required=False, help_text="only the payments of this order")

        class Meta:
            ref_name = "PaymentListFilter"

    OutputSerializer = PaymentOutputSerializer

    @extend_schema(parameters=[FilterSerializer], responses={200: PaymentOutputSerializer(many=True)})
    def get(self, request: Request) -> Response:
        filters = self.FilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        payments = payment_list(user_id=request.user.pk, **filters.validated_data).prefetch_related("refunds")
        return Response(self.OutputSerializer(payments, many=True).data)

    @extend_schema(
        request=InputSerializer, parameters=[idempotency.OPENAPI_PARAMETER],
        responses={201: PaymentOutputSerializer,
                   202: OpenApiResponse(PaymentOutputSerializer, description=(
                       "outcome unknown: the processor did not answer (status pending, outcome_unknown true); "
                       "the card may have been charged. Retry with the same Idempotency-Key after Retry-After: "
                       "the processor is asked again with the same key, never charged twice. Not stored "
                       "under the key.")),
                   400: OpenApiResponse(description="invalid input or key missing"),
                   402: OpenApiResponse(description="declined: card_declined, insufficient_funds, ..."),
                   404: OpenApiResponse(description="order_not_found: the order is not yours, or missing"),
                   422: OpenApiResponse(description="idempotency key reused with another body")},
    )
    def post(self, request: Request) -> Response:
        # Resumable: a re-run charges with the same domain key, which continues the first payment.
        return idempotency.idempotent(request, scope=f"payments.charge:{request.user.pk}",
                                      handler=lambda: self._charge(request), resumable=True)

    def _charge(self, request: Request) -> Response:
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        order_ownership_check(order_id=data.validated_data["order_id"], user_id=request.user.pk)
        payment = payment_charge(
            order_id=data.validated_data["order_id"], user_id=request.user.pk,
            amount=Money(data.validated_data["amount_minor"], data.validated_data["currency"]),
            card_token=data.validated_data["card_token"],
            idempotency_key=f"api:{request.user.pk}:{request.headers[idempotency.HEADER]}",
        )
        if payment.status == Payment.FAILED:
            return _failure_response(payment)
        if payment.status == Payment.PENDING:
            return idempotency.transient_response(Response(self.OutputSerializer(payment).data,
                                                           status=status.HTTP_202_ACCEPTED,
                                                           headers={"Retry-After": str(RETRY_AFTER)}))
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
                                      handler=lambda: self._refund(request, payment_id), resumable=True)

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
