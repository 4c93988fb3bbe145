"""Service-to-service payments endpoints (/internal/v1/payments/), served by the monolith and by the
payments service alike, so a caller can be pointed at either.

The internal credential is checked by strangler.django.internal_auth before these views run; they
carry no user. A charge is idempotent on the domain key sent as Idempotency-Key (used as given),
so its answer is always 200 with the recorded outcome: a refusal is a result, not an error.
Errors use the kit's error shape, rendered by the configured exception handler.
"""

from __future__ import annotations

import uuid

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from monolith.kernel.fields import AmountMinorField, CurrencyField, StrictCharField, StrictUUIDField
from monolith.kernel.money import Money
from monolith.payments.apis import PaymentOutputSerializer, RefundResultSerializer
from monolith.payments.selectors import payment_get, payment_list
from monolith.payments.services import CARD_TOKEN_MAX, payment_charge, payment_refund
from strangler.django.errors import ValidationFailed
from strangler.django.idempotency import services as idempotency
from strangler.django.query import QuerySerializer


class InternalPaymentSerializer(PaymentOutputSerializer):
    """The public payment plus what services need (its user, the processor's reference), without
    the nested refunds and the derived outcome_unknown (status pending + failure_reason
    processor_timeout say the same)."""

    user_id = serializers.UUIDField()
    processor_ref = serializers.CharField()
    refunds = None
    outcome_unknown = None

    class Meta:
        ref_name = "InternalPayment"


class InternalApi(APIView):
    """No user, no session: the internal credential (middleware) is the authentication."""

    authentication_classes: list = []
    permission_classes = [AllowAny]


def _domain_key(request: Request) -> str:
    key = request.headers.get(idempotency.HEADER)
    if not key:
        raise ValidationFailed(f"{idempotency.HEADER} header is required", code="idempotency_key_missing")
    return key


@extend_schema(exclude=True)
class PaymentListInternalApi(InternalApi):
    class FilterSerializer(QuerySerializer):
        order_id = serializers.UUIDField()

    def get(self, request: Request) -> Response:
        filters = self.FilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        payments = payment_list(order_id=filters.validated_data["order_id"])
        return Response(InternalPaymentSerializer(payments, many=True).data)


@extend_schema(exclude=True)
class PaymentChargeInternalApi(InternalApi):
    class InputSerializer(serializers.Serializer):
        order_id = StrictUUIDField()
        user_id = StrictUUIDField()
        amount_minor = AmountMinorField()
        currency = CurrencyField()
        card_token = StrictCharField(max_length=CARD_TOKEN_MAX)

    def post(self, request: Request) -> Response:
        key = _domain_key(request)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        payment = payment_charge(
            order_id=data.validated_data["order_id"], user_id=data.validated_data["user_id"],
            amount=Money(data.validated_data["amount_minor"], data.validated_data["currency"]),
            card_token=data.validated_data["card_token"], idempotency_key=key,
        )
        return Response(InternalPaymentSerializer(payment).data)


@extend_schema(exclude=True)
class PaymentDetailInternalApi(InternalApi):
    def get(self, request: Request, payment_id: uuid.UUID) -> Response:
        return Response(InternalPaymentSerializer(payment_get(payment_id=payment_id)).data)


@extend_schema(exclude=True)
class PaymentRefundInternalApi(InternalApi):
    class InputSerializer(serializers.Serializer):
        amount_minor = AmountMinorField(required=False)
        currency = CurrencyField(required=False)

    def post(self, request: Request, payment_id: uuid.UUID) -> Response:
        key = _domain_key(request)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        amount_minor = data.validated_data.get("amount_minor")
        currency = data.validated_data.get("currency")
        if amount_minor is not None and currency is None:
            currency = payment_get(payment_id=payment_id).currency
        refund = payment_refund(
            payment_id=payment_id, currency=currency, idempotency_key=key,
            amount=None if amount_minor is None else Money(amount_minor, currency),
        )
        return Response(RefundResultSerializer(refund).data)
