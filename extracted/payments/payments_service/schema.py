"""OpenAPI description of the service's authentication, as DRF's TokenAuthentication is in the monolith's,
and of what it answers when the monolith cannot say whose a token is (503 identity_unavailable).

Kept out of auth.py: DRF imports authentication classes while ``rest_framework.views`` is still
initialising, so auth.py must stay free of modules that import the views (drf_spectacular does).
Imported by urls.py, which registers the extension before any schema is generated.
"""

from drf_spectacular.extensions import OpenApiAuthenticationExtension


class IntrospectedTokenScheme(OpenApiAuthenticationExtension):
    target_class = "payments_service.auth.IntrospectedTokenAuthentication"
    name = "tokenAuth"

    def get_security_definition(self, auto_schema: object) -> dict[str, str]:
        return {"type": "apiKey", "in": "header", "name": "Authorization",
                "description": 'Token-based authentication with required prefix "Token"'}


def postprocess_identity_unavailable(result: dict, generator: object, request: object, public: bool,
                                     **kwargs: object) -> dict:
    """Every operation taking an end-user token may answer 503 identity_unavailable (auth.py), with
    Retry-After: the monolith, which owns users, could not be asked. The kit's hook, run after this
    one, gives it the error body."""
    for item in (result.get("paths") or {}).values():
        for operation in item.values():
            if isinstance(operation, dict) and any(IntrospectedTokenScheme.name in r for r in operation.get("security", [])):
                operation.setdefault("responses", {}).setdefault("503", {
                    "description": "identity_unavailable: whose token this is cannot be told now; retry after "
                                   "Retry-After seconds",
                    "headers": {"Retry-After": {"schema": {"type": "integer"}, "description": "seconds"}},
                })
    return result
