"""Service-to-service endpoints of users, behind an internal credential.

Extracted services (payments) keep accepting the end users' tokens without holding users' data:
they ask here whether a token is valid and whose it is.
"""

from __future__ import annotations

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from monolith.kernel.fields import StrictCharField
from monolith.users.selectors import user_id_by_token

TOKEN_MAX = 256


class TokenIntrospectApi(APIView):
    # The kit's InternalCredentialMiddleware has already checked the caller's credential;
    # there is no end user on this call, so no DRF authentication or permission applies.
    authentication_classes: list = []
    permission_classes = [AllowAny]

    class InputSerializer(serializers.Serializer):
        token = StrictCharField(max_length=TOKEN_MAX)

        class Meta:
            ref_name = "TokenIntrospectInput"

    class OutputSerializer(serializers.Serializer):
        active = serializers.BooleanField()
        user_id = serializers.UUIDField(required=False)

        class Meta:
            ref_name = "TokenIntrospection"

    @extend_schema(
        request=InputSerializer,
        responses={200: OutputSerializer, 400: OpenApiResponse(description="token missing or not a string"),
                   401: OpenApiResponse(description="internal_credential_required")},
    )
    def post(self, request: Request) -> Response:
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        user_id = user_id_by_token(token=data.validated_data["token"])
        answer = {"active": False} if user_id is None else {"active": True, "user_id": user_id}
        return Response(self.OutputSerializer(answer).data)
