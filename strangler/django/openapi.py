"""An OpenAPI document that tells the truth about the API (drf-spectacular).

drf-spectacular describes what each view declares; the answers that the kit and DRF give around
the views are left out, and a client (or a fuzzer such as schemathesis) then meets responses the
document never mentions. ``postprocess_kit_responses`` (a postprocessing hook) adds what every
view of a kit project answers:

- every 4xx/5xx response carries the kit's error body (strangler.django.errors): ``Error``;
- 401 on an operation that needs credentials: an end-user token (DRF's 401 for a missing or bad
  token) or an internal credential (``INTERNAL_AUTH_PATHS``: the middleware's 401; the credential
  is declared as the ``internalCredential`` security scheme on those paths);
- 400 on an operation that reads a body or parameters (malformed JSON, validation);
- 415 on an operation that reads a body (another Content-Type than JSON);
- 404 on an operation with path parameters (no such resource).

The kit's ``AutoSchema`` states in request components what DRF's fields refuse and drf-spectacular
leaves out: a string that may not be blank has ``minLength: 1`` (``COMPONENT_SPLIT_REQUEST``:
request and response components apart, so responses are not constrained by what inputs must be),
a string may not hold NUL characters (DRF's ProhibitNullCharactersValidator; PostgreSQL cannot
store them), and a list that may not be empty has ``minItems: 1``.

Use: ``REST_FRAMEWORK["DEFAULT_SCHEMA_CLASS"] = "strangler.django.openapi.AutoSchema"`` and
``SPECTACULAR_SETTINGS = strangler.django.settings_env.spectacular_settings(TITLE=..., VERSION=...)``
(settings modules may not import this one: it imports DRF).
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.validators import RegexValidator
from drf_spectacular.openapi import AutoSchema as SpectacularAutoSchema
from rest_framework import serializers
from rest_framework.fields import ProhibitNullCharactersValidator

from strangler.proxy.credentials import HEADER as INTERNAL_HEADER

ERROR_COMPONENT = "Error"
INTERNAL_SCHEME = "internalCredential"
_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")

ERROR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "Every 4xx/5xx answer (strangler.django.errors).",
    "properties": {
        "error": {
            "type": "object",
            "properties": {
                "code": {"type": "string", "description": "machine-readable, e.g. validation_error"},
                "message": {"type": "string"},
                "fields": {
                    "type": "object",
                    "description": "per input field (or non_field_errors), what is wrong with it",
                    "additionalProperties": True,
                },
            },
            "required": ["code", "message", "fields"],
        },
    },
    "required": ["error"],
}

# What the kit and DRF answer around a view, when the document does not say otherwise.
_DEFAULT_DESCRIPTIONS = {
    "400": "invalid input (validation_error, malformed_request)",
    "401": "credentials missing or refused",
    "404": "no such resource",
    "415": "the body must be application/json",
}


# ECMA-262 and Python alike: no NUL anywhere in the string.
NO_NUL_PATTERN = "^[^\\x00]*$"


class AutoSchema(SpectacularAutoSchema):
    def _map_serializer_field(self, field: Any, direction: str, bypass_extensions: bool = False) -> dict[str, Any]:
        schema = super()._map_serializer_field(field, direction, bypass_extensions)
        if direction != "request" or not isinstance(schema, dict) or "$ref" in schema:
            return schema
        # A field with a pattern of its own (RegexValidator, added to the schema after this) says
        # what it takes by that pattern; one that excludes NUL is the field's business.
        if isinstance(field, serializers.CharField) and schema.get("type") == "string" and "pattern" not in schema \
                and "enum" not in schema \
                and any(isinstance(v, ProhibitNullCharactersValidator) for v in field.validators) \
                and not any(isinstance(v, RegexValidator) for v in field.validators):
            schema["pattern"] = NO_NUL_PATTERN
        if isinstance(field, serializers.ListSerializer | serializers.ListField) and not field.allow_empty \
                and schema.get("type") == "array":
            schema["minItems"] = max(schema.get("minItems", 0), 1)
        return schema


def _internal_prefixes() -> list[str]:
    return sorted(getattr(settings, "INTERNAL_AUTH_PATHS", {}) or {}, key=len, reverse=True)


def _needs_credentials(requirements: list[dict[str, Any]]) -> bool:
    """Whether no listed alternative is anonymous (``{}``)."""
    return bool(requirements) and all(requirements)


def _add_response(responses: dict[str, Any], status: str) -> None:
    if status not in responses and not any(code.upper() == f"{status[0]}XX" for code in responses):
        responses[status] = {"description": _DEFAULT_DESCRIPTIONS[status]}


def postprocess_kit_responses(result: dict[str, Any], generator: Any, request: Any, public: bool,
                              **kwargs: Any) -> dict[str, Any]:
    components = result.setdefault("components", {})
    components.setdefault("schemas", {})[ERROR_COMPONENT] = ERROR_SCHEMA
    error_content = {"application/json": {"schema": {"$ref": f"#/components/schemas/{ERROR_COMPONENT}"}}}
    prefixes = _internal_prefixes()
    internal_used = False

    for path, item in (result.get("paths") or {}).items():
        internal = any(path.startswith(prefix) for prefix in prefixes)
        for method in _METHODS:
            operation = item.get(method)
            if operation is None:
                continue
            requirements = operation.get("security", result.get("security", []))
            if internal:
                # The middleware checks the internal credential before anything else, for every
                # caller; a user token, where the view wants one, comes on top of it.
                requirements = [{**r, INTERNAL_SCHEME: []} for r in (requirements or [{}])]
                operation["security"] = requirements
                internal_used = True
            responses = operation.setdefault("responses", {})
            parameters = [p for p in operation.get("parameters", []) if isinstance(p, dict)]
            if _needs_credentials(requirements):
                _add_response(responses, "401")
            if "requestBody" in operation or any(p.get("in") in ("query", "header") for p in parameters):
                _add_response(responses, "400")
            if "requestBody" in operation:
                _add_response(responses, "415")
            if any(p.get("in") == "path" for p in parameters):
                _add_response(responses, "404")
            operation["responses"] = responses = dict(sorted(responses.items()))
            for status, response in responses.items():
                if str(status)[0] in "45" and isinstance(response, dict) and "content" not in response \
                        and "$ref" not in response:
                    response["content"] = error_content

    if internal_used:
        components.setdefault("securitySchemes", {})[INTERNAL_SCHEME] = {
            "type": "apiKey", "in": "header", "name": INTERNAL_HEADER,
            "description": "A short-lived internal credential of a platform caller (strangler.django.internal_auth); "
                           "the strangler proxy adds it to the requests it routes.",
        }
    return result
