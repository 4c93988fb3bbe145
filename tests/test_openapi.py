"""The OpenAPI 3 document is served, valid, and covers every public endpoint."""

import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def test_schema_is_served_and_lists_the_api(client):
    response = client.get("/api/schema/")
    assert response.status_code == 200
    document = yaml.safe_load(response.content)
    assert document["openapi"].startswith("3.")
    paths = set(document["paths"])
    for path in (
        "/api/v1/users/",
        "/api/v1/users/token/",
        "/api/v1/users/me/",
        "/api/v1/products/",
        "/api/v1/products/{product_id}/stock/",
        "/api/v1/orders/",
        "/api/v1/orders/{order_id}/checkout/",
        "/api/v1/payments/",
        "/api/v1/payments/{payment_id}/",
        "/api/v1/payments/{payment_id}/refunds/",
    ):
        assert path in paths, f"{path} missing from the schema: {sorted(paths)}"


def test_schema_generation_has_no_warnings():
    result = subprocess.run(
        [sys.executable, "manage.py", "spectacular", "--validate", "--fail-on-warn", "--file", "/dev/null"],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def _operations(document):
    for path, item in document["paths"].items():
        for method, operation in item.items():
            if method in {"get", "post", "put", "patch", "delete"}:
                yield path, method, operation


def test_schema_documents_what_the_kit_answers_around_the_views(client):
    """strangler.django.openapi: 401 where credentials are needed, 400 where input is read, 415 for
    a body, 404 for a path parameter, each with the kit's error body."""
    document = yaml.safe_load(client.get("/api/schema/").content)
    error = document["components"]["schemas"]["Error"]
    assert error["required"] == ["error"]
    assert error["properties"]["error"]["required"] == ["code", "message", "fields"]
    for path, method, operation in _operations(document):
        responses = operation["responses"]
        secured = all(operation.get("security", [{}]))
        assert ("401" in responses) == secured, (method, path)
        if "requestBody" in operation:
            assert {"400", "415"} <= set(responses), (method, path)
        if any(p["in"] == "path" for p in operation.get("parameters", [])):
            assert "404" in responses, (method, path)
        for status, response in responses.items():
            if status[0] in "45":
                assert response["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/Error"}


def test_internal_operations_declare_the_internal_credential(client):
    document = yaml.safe_load(client.get("/api/schema/").content)
    assert document["components"]["securitySchemes"]["internalCredential"]["name"] == "X-Internal-Credential"
    introspect = document["paths"]["/internal/v1/users/introspect/"]["post"]
    assert introspect["security"] == [{"internalCredential": []}]
    for path, _, operation in _operations(document):
        if path.startswith("/api/"):
            assert not any("internalCredential" in r for r in operation.get("security", [])), path


def test_request_components_state_what_drf_refuses(client):
    document = yaml.safe_load(client.get("/api/schema/").content)
    schemas = document["components"]["schemas"]
    register = schemas["UserRegisterInputRequest"]["properties"]
    assert register["password"]["minLength"] == 8
    assert register["full_name"]["pattern"] == "^[^\\x00]*$"  # DRF refuses NUL characters
    assert "minLength" not in register["full_name"]  # may be blank
    assert schemas["OrderCreateInputRequest"]["properties"]["lines"]["minItems"] == 1
    currency = schemas["PaymentChargeInputRequest"]["properties"]["currency"]
    assert currency["allOf"] == [{"$ref": "#/components/schemas/CurrencyEnum"}]
    assert {"EUR", "USD"} <= set(schemas["CurrencyEnum"]["enum"]) and "XXX" not in schemas["CurrencyEnum"]["enum"]
    # Responses are not held to what inputs must be.
    assert "minLength" not in schemas["Payment"]["properties"]["failure_reason"]
