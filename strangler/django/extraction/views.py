"""The internal sync endpoints of an extraction, generic over its spec: ``<sync_path>import/`` (the
backfill's target, checking and merging through strangler.django.extraction.importing) and ``<sync_path>checksums/`` (reconcile).
Mount them with ``SyncImportView.as_view(context="payments")``; the internal credential middleware
guards them, so they carry no user."""

from __future__ import annotations

import json

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from strangler.django.errors import ValidationFailed, error_body
from strangler.django.extraction.checksums import MAX_PAGE, checksum_totals, checksums_page
from strangler.django.extraction.importing import sync_batch_import
from strangler.django.extraction.spec import ExtractionSpec, extraction_spec

# A backfill batch of a few thousand rows is a few MB: far above DATA_UPLOAD_MAX_MEMORY_SIZE, so
# the import view reads its body itself, bounded by this.
SYNC_IMPORT_MAX_BYTES = 32 * 1024 * 1024
CHECKSUM_PAGE_DEFAULT = 5000


class ExtractionView(APIView):
    """No user, no session: the internal credential (middleware) is the authentication."""

    authentication_classes: list = []
    permission_classes = [AllowAny]
    context: str = ""

    @property
    def spec(self) -> ExtractionSpec:
        return extraction_spec(context=self.context)


@extend_schema(exclude=True)
class SyncImportView(ExtractionView):
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
        spec = self.spec
        origin = body["origin"] if isinstance(body.get("origin"), str) else None
        counts = sync_batch_import(spec=spec, batch=body, origin=origin)
        return Response({kind: counts[kind] for kind in spec.kinds})


@extend_schema(exclude=True)
class SyncChecksumsView(ExtractionView):
    def get(self, request: Request) -> Response:
        spec = self.spec
        id_field = spec.row_model()._meta.get_field(spec.id_field)
        after_field = serializers.ModelSerializer.serializer_field_mapping.get(type(id_field), serializers.CharField)
        filters = type("FilterSerializer", (serializers.Serializer,), {
            "after": after_field(required=False),
            "limit": serializers.IntegerField(min_value=1, max_value=MAX_PAGE, default=CHECKSUM_PAGE_DEFAULT),
        })(data=request.query_params)
        filters.is_valid(raise_exception=True)
        rows, next_id = checksums_page(spec, after=filters.validated_data.get("after"),
                                       limit=filters.validated_data["limit"])
        totals = checksum_totals(spec)
        return Response({"rows": rows, "next": None if next_id is None else str(next_id), "total": totals[spec.kind]}
                        | {child.total_key: totals[child.kind] for child in spec.children})
