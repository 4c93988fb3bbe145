"""One error shape for every 4xx/5xx: {"error": {"code", "message", "fields"}}."""

from __future__ import annotations

import logging
from typing import Any

from django.http import HttpRequest, JsonResponse
from rest_framework import exceptions as drf_exceptions
from rest_framework.response import Response

logger = logging.getLogger(__name__)


class DomainError(Exception):
    """A business rule refused the request. Raised by services; rendered by the API layer.

    ``retry_after`` (seconds) marks a refusal that is expected to go away by itself (a dependency
    is down): the API layer sends it as the Retry-After header so clients back off, not hammer.
    ``transient`` marks a refusal that depends on a passing state (a payment still pending): the
    same request may succeed later, so it is never stored as an Idempotency-Key's answer.
    """

    status_code = 400
    code = "invalid"
    retry_after: int | None = None
    transient: bool = False

    def __init__(self, message: str, *, code: str | None = None, fields: dict[str, list[str]] | None = None,
                 status_code: int | None = None, retry_after: int | None = None,
                 transient: bool | None = None) -> None:
        super().__init__(message)
        if transient is not None:
            self.transient = transient
        self.message = message
        if code:
            self.code = code
        if status_code:
            self.status_code = status_code
        if retry_after is not None:
            self.retry_after = retry_after
        self.fields = fields or {}


class ValidationFailed(DomainError):
    status_code = 400
    code = "validation_error"


class NotFound(DomainError):
    status_code = 404
    code = "not_found"


class Conflict(DomainError):
    status_code = 409
    code = "conflict"


class Unprocessable(DomainError):
    status_code = 422
    code = "unprocessable"


def error_body(code: str, message: str, fields: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "fields": fields or {}}}


def _flatten_fields(detail: Any) -> dict[str, Any]:
    if isinstance(detail, dict):
        return {k: (v if isinstance(v, list | dict) else [str(v)]) for k, v in detail.items()}
    if isinstance(detail, list):
        return {"non_field_errors": [str(d) for d in detail]}
    return {}


_DRF_CODES = {
    drf_exceptions.ParseError: "malformed_request",
    drf_exceptions.ValidationError: "validation_error",
    drf_exceptions.NotAuthenticated: "not_authenticated",
    drf_exceptions.AuthenticationFailed: "authentication_failed",
    drf_exceptions.PermissionDenied: "permission_denied",
    drf_exceptions.NotFound: "not_found",
    drf_exceptions.MethodNotAllowed: "method_not_allowed",
    drf_exceptions.UnsupportedMediaType: "unsupported_media_type",
    drf_exceptions.Throttled: "throttled",
}


def api_exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    if isinstance(exc, DomainError):
        headers = {"Retry-After": str(exc.retry_after)} if exc.retry_after is not None else None
        return Response(error_body(exc.code, exc.message, exc.fields), status=exc.status_code, headers=headers)
    # Imported here: DRF imports a project's authentication classes while rest_framework.views is
    # initialising, and those (through internal_auth) may import this module.
    from rest_framework.views import exception_handler as drf_default_handler

    response = drf_default_handler(exc, context)
    if response is None:
        logger.exception("unhandled error in API view", exc_info=exc)
        return Response(error_body("server_error", "internal server error"), status=500)
    code = next((c for t, c in _DRF_CODES.items() if isinstance(exc, t)), "error")
    if isinstance(exc, drf_exceptions.ValidationError):
        message, fields = "invalid input", _flatten_fields(exc.detail)
    else:
        detail = getattr(exc, "detail", "")
        message, fields = (str(detail) if not isinstance(detail, dict | list) else code), {}
    response.data = error_body(code, message, fields)
    return response


def not_found_view(request: HttpRequest, exception: Exception | None = None) -> JsonResponse:
    return JsonResponse(error_body("not_found", "no such resource"), status=404)


def server_error_view(request: HttpRequest) -> JsonResponse:
    return JsonResponse(error_body("server_error", "internal server error"), status=500)
