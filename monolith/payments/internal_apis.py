"""Service-to-service payments endpoints (/internal/v1/payments/), served by the monolith and by the
payments service alike, so a caller can be pointed at either.

The internal credential is checked by monolith.kernel.internal_auth before these views run; they
carry no user. A charge is idempotent on the domain key sent as Idempotency-Key (used as given),
so its answer is always 200 with the recorded outcome: a refusal is a result, not an error.
Errors use the kernel shape, rendered by the configured exception handler.
"""

from __future__ import annotations

import json
import uuid

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from monolith.kernel import idempotency
from monolith.kernel.errors import ValidationFailed, error_body
from monolith.kernel.fields import AmountMinorField, CurrencyField, StrictCharField, StrictUUIDField
from monolith.kernel.money import Money
from monolith.payments.apis import PaymentOutputSerializer, RefundResultSerializer
from monolith.payments.checksums import MAX_PAGE, payment_checksum_totals, payment_checksums_page
from monolith.payments.selectors import payment_get, payment_list
from monolith.payments.services import CARD_TOKEN_MAX, payment_charge, payment_refund
from monolith.payments.sync import payments_sync_import

# A backfill batch of a few thousand payments is a few MB: far above DATA_UPLOAD_MAX_MEMORY_SIZE,
# so the import view reads its body itself, bounded by this.
SYNC_IMPORT_MAX_BYTES = 32 * 1024 * 1024
CHECKSUM_PAGE_DEFAULT = 5000


class InternalPaymentSerializer(PaymentOutputSerializer):
    """The public payment plus what services need (its user, the processor's reference), without
    the nested refunds."""

    user_id = serializers.UUIDField()
    processor_ref = serializers.CharField()
    refunds = None

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
    class FilterSerializer(serializers.Serializer):
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


@extend_schema(exclude=True)
class PaymentSyncImportInternalApi(InternalApi):
    """Backfill target. Reads the body itself (see SYNC_IMPORT_MAX_BYTES); never touches request.data."""

    def post(self, request: Request) -> Response:
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = -1
        if length > SYNC_IMPORT_MAX_BYTES:
            return Response(error_body("payload_too_large", f"a sync batch may be at most {SYNC_IMPORT_MAX_BYTES} "
                                       "bytes; send smaller batches"), status=413)
        if length <= 0:
            return Response(error_body("length_required", "a sync batch needs a Content-Length"), status=411)
        if request._request.content_type != "application/json":
            return Response(error_body("unsupported_media_type", "a sync batch is application/json"), status=415)
        try:
            body = json.loads(request._request.read(length))
        except (ValueError, UnicodeDecodeError):
            return Response(error_body("malformed_request", "the body is not valid JSON"), status=400)
        if not isinstance(body, dict):
            raise ValidationFailed("a sync batch is a JSON object", code="sync_invalid")
        counts = payments_sync_import(payments=body.get("payments", []), refunds=body.get("refunds", []),
                                      idempotency_records=body.get("idempotency_records", []))
        return Response(counts)


@extend_schema(exclude=True)
class PaymentChecksumsInternalApi(InternalApi):
    class FilterSerializer(serializers.Serializer):
        after = serializers.UUIDField(required=False)
        limit = serializers.IntegerField(min_value=1, max_value=MAX_PAGE, default=CHECKSUM_PAGE_DEFAULT)

    def get(self, request: Request) -> Response:
        filters = self.FilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        rows, next_id = payment_checksums_page(after=filters.validated_data.get("after"),
                                               limit=filters.validated_data["limit"])
        totals = payment_checksum_totals()
        return Response({"rows": rows, "next": None if next_id is None else str(next_id),
                         "total": totals["payments"], "refund_total": totals["refunds"]})
