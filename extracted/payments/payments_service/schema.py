"""OpenAPI description of the service's authentication, as DRF's TokenAuthentication is in the monolith's.

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
