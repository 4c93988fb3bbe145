"""HTTP endpoints of the users context: thin views over services and selectors."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from monolith.kernel.fields import StrictCharField
from monolith.users.services import EMAIL_PATTERN, MIN_PASSWORD_LENGTH, user_register, user_token_obtain


class UserOutputSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    # The address as registered (EMAIL_PATTERN, lowercased), not the document's "email" format:
    # that one is RFC 5321's (ASCII, a 64-character local part), which Django's rule is not.
    email = serializers.CharField()
    full_name = serializers.CharField()
    date_joined = serializers.DateTimeField()


class UserRegisterApi(APIView):
    # No authenticators: a stale token header must not block sign-up.
    authentication_classes: list = []
    permission_classes = [AllowAny]

    class InputSerializer(serializers.Serializer):
        # The rules a schema can state are stated here too, so the document refuses what the API
        # refuses (an e-mail address by EMAIL_PATTERN, taken as sent; the minimum password length);
        # the service checks them again (and uniqueness), so seeding and the API enforce the same thing.
        email = serializers.RegexField(EMAIL_PATTERN, max_length=254, trim_whitespace=False,
                                       error_messages={"invalid": "Enter a valid email address."})
        password = StrictCharField(min_length=MIN_PASSWORD_LENGTH, max_length=128)
        full_name = StrictCharField(max_length=150, required=False, allow_blank=True, default="")

        class Meta:
            ref_name = "UserRegisterInput"  # nested "InputSerializer"s would clash in the schema

    OutputSerializer = UserOutputSerializer

    @extend_schema(
        request=InputSerializer,
        responses={201: UserOutputSerializer, 400: OpenApiResponse(description="invalid email or password"),
                   409: OpenApiResponse(description="email already registered")},
    )
    def post(self, request: Request) -> Response:
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        user = user_register(**data.validated_data)
        return Response(self.OutputSerializer(user).data, status=status.HTTP_201_CREATED)


class UserTokenApi(APIView):
    authentication_classes: list = []
    permission_classes = [AllowAny]

    class InputSerializer(serializers.Serializer):
        email = StrictCharField(max_length=254)
        password = StrictCharField(max_length=128)

        class Meta:
            ref_name = "UserTokenInput"

    class OutputSerializer(serializers.Serializer):
        token = serializers.CharField()

        class Meta:
            ref_name = "UserToken"

    @extend_schema(
        request=InputSerializer,
        responses={200: OutputSerializer, 400: OpenApiResponse(description="wrong email or password")},
    )
    def post(self, request: Request) -> Response:
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        token = user_token_obtain(**data.validated_data)
        return Response(self.OutputSerializer({"token": token}).data)


class UserMeApi(APIView):
    permission_classes = [IsAuthenticated]
    OutputSerializer = UserOutputSerializer

    @extend_schema(responses={200: UserOutputSerializer})
    def get(self, request: Request) -> Response:
        return Response(self.OutputSerializer(request.user).data)
