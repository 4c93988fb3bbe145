"""The handover's steps over HTTP (/internal/v1/catalog/custody/), so the monolith's
``catalog_stock_handover`` can drive the catalog service's side (custody.py says what each step
does). Only the callers named in ``CATALOG_CUSTODY_CALLERS`` (default: the monolith) may call them:
a proxy's or another service's credential gets 403. Every step is safe to repeat."""

from __future__ import annotations

from django.conf import settings
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.exceptions import PermissionDenied
from rest_framework.request import Request
from rest_framework.response import Response

from monolith.catalog import custody
from monolith.catalog.internal_apis import InternalApi
from monolith.catalog.models import StockReservation
from monolith.kernel.fields import StrictIntegerField, StrictUUIDField
from strangler.django.query import QuerySerializer

DEFAULT_CALLERS = ("monolith",)
MAX_LEVELS = 50_000  # products in one handover's levels: about 2.5 MB, Django's default body limit


def _custody_body(row) -> dict:
    return {"state": row.state, "epoch": row.epoch, "imported_epoch": row.imported_epoch}


class CustodyApi(InternalApi):
    """Internal, and only for the handover's coordinator."""

    def initial(self, request: Request, *args, **kwargs) -> None:
        super().initial(request, *args, **kwargs)
        callers = getattr(settings, "CATALOG_CUSTODY_CALLERS", DEFAULT_CALLERS)
        if getattr(request, "internal_caller", None) not in callers:
            raise PermissionDenied("only the stock handover's coordinator may call this")


class EpochSerializer(serializers.Serializer):
    epoch = StrictIntegerField(min_value=1)


class LevelSerializer(serializers.Serializer):
    product_id = StrictUUIDField()
    on_hand = StrictIntegerField(min_value=0)
    reserved = StrictIntegerField(min_value=0)

    def validate(self, attrs: dict) -> dict:
        if attrs["reserved"] > attrs["on_hand"]:
            raise serializers.ValidationError({"reserved": ["must be <= on_hand"]})
        return attrs


class ReservationSerializer(serializers.Serializer):
    class LineSerializer(serializers.Serializer):
        product_id = StrictUUIDField()
        quantity = StrictIntegerField(min_value=1)

    id = StrictUUIDField()
    order_id = StrictUUIDField()
    state = serializers.ChoiceField(choices=[s for s, _ in StockReservation.STATES])
    lines = LineSerializer(many=True, allow_empty=False)


def _valid(serializer_class, request: Request) -> dict:
    data = serializer_class(data=request.data)
    data.is_valid(raise_exception=True)
    return data.validated_data


def _lines(rows: list[dict]) -> list[dict]:
    return [{**row, "id": str(row["id"]), "order_id": str(row["order_id"]),
             "lines": [{"product_id": str(x["product_id"]), "quantity": x["quantity"]} for x in row["lines"]]}
            for row in rows]


@extend_schema(exclude=True)
class CustodyStateApi(CustodyApi):
    def get(self, request: Request) -> Response:
        return Response(_custody_body(custody.custody_get()))


@extend_schema(exclude=True)
class CustodyFenceApi(CustodyApi):
    def post(self, request: Request) -> Response:
        return Response(custody.custody_fence(epoch=_valid(EpochSerializer, request)["epoch"]))


@extend_schema(exclude=True)
class CustodyLevelsApi(CustodyApi):
    class InputSerializer(EpochSerializer):
        levels = LevelSerializer(many=True, max_length=MAX_LEVELS)

    def post(self, request: Request) -> Response:
        data = _valid(self.InputSerializer, request)
        levels = [{**x, "product_id": str(x["product_id"])} for x in data["levels"]]
        return Response({"imported": custody.custody_levels_import(epoch=data["epoch"], levels=levels)})


@extend_schema(exclude=True)
class CustodyReservationsApi(CustodyApi):
    class PageSerializer(QuerySerializer):
        after = serializers.UUIDField(required=False)
        limit = serializers.IntegerField(min_value=1, max_value=custody.PAGE_MAX, default=custody.PAGE_MAX)

    class InputSerializer(EpochSerializer):
        reservations = ReservationSerializer(many=True, max_length=custody.PAGE_MAX)

    def get(self, request: Request) -> Response:
        page = self.PageSerializer(data=request.query_params)
        page.is_valid(raise_exception=True)
        return Response(custody.custody_reservations_page(after=page.validated_data.get("after"),
                                                          limit=page.validated_data["limit"]))

    def post(self, request: Request) -> Response:
        data = _valid(self.InputSerializer, request)
        count = custody.custody_reservations_import(epoch=data["epoch"], reservations=_lines(data["reservations"]))
        return Response({"imported": count})


@extend_schema(exclude=True)
class CustodyActivateApi(CustodyApi):
    class InputSerializer(EpochSerializer):
        digest = serializers.DictField()

    def post(self, request: Request) -> Response:
        data = _valid(self.InputSerializer, request)
        return Response(_custody_body(custody.custody_activate(epoch=data["epoch"], digest=data["digest"])))


class _EpochStepApi(CustodyApi):
    step = staticmethod(custody.custody_retire)

    def post(self, request: Request) -> Response:
        return Response(_custody_body(self.step(epoch=_valid(EpochSerializer, request)["epoch"])))


@extend_schema(exclude=True)
class CustodyRetireApi(_EpochStepApi):
    step = staticmethod(custody.custody_retire)


@extend_schema(exclude=True)
class CustodyAbandonApi(_EpochStepApi):
    step = staticmethod(custody.custody_abandon)


@extend_schema(exclude=True)
class CustodyAbortApi(_EpochStepApi):
    step = staticmethod(custody.custody_abort)
