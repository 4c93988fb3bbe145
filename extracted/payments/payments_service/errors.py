"""The kit's error shape (strangler.django.errors), with the service's own error codes.

The kit's handler names the DRF exceptions it knows and calls any other one "error"; the
service's own exceptions (e.g. ``identity_unavailable``) keep their code instead. Headers DRF
derives from the exception (WWW-Authenticate, Retry-After) are kept as they are.
"""

from __future__ import annotations

from typing import Any

from rest_framework.exceptions import APIException
from rest_framework.response import Response

from strangler.django.errors import api_exception_handler as kit_exception_handler


def api_exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    response = kit_exception_handler(exc, context)
    if response is None or not isinstance(exc, APIException):
        return response
    error = response.data.get("error") if isinstance(response.data, dict) else None
    codes = exc.get_codes()
    if error is not None and error.get("code") == "error" and isinstance(codes, str):
        error["code"] = codes
    return response
