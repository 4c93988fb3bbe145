"""The internal-credential guard: /api/ needs the proxy's or the monolith's credential, /internal/
the monolith's; anything else is 401 internal_credential_required. The probes stay open."""

from __future__ import annotations

import time

import pytest

from strangler.proxy.credentials import TTL, credential_mint

API = "/api/v1/payments/"
INTERNAL = "/internal/v1/payments/sync/checksums/"
_META = "HTTP_X_INTERNAL_CREDENTIAL"


def _assert_credential_required(response) -> None:
    assert response.status_code == 401, response.content
    body = response.json()
    assert set(body) == {"error"}
    assert body["error"]["code"] == "internal_credential_required"
    assert set(body["error"]) == {"code", "message", "fields"}


def _tampered(value: str) -> str:
    head, sig = value.rsplit(".", 1)
    return f"{head}.{('A' if sig[0] != 'A' else 'B') + sig[1:]}"


@pytest.mark.parametrize("path", [API, INTERNAL])
@pytest.mark.parametrize("method", ["get", "post"])
def test_no_credential_is_refused(client, path, method):
    _assert_credential_required(getattr(client, method)(path, content_type="application/json"))


@pytest.mark.parametrize("path", [API, INTERNAL])
def test_tampered_credential_is_refused(client, mint, path):
    _assert_credential_required(client.get(path, **{_META: _tampered(mint("monolith"))}))


@pytest.mark.parametrize("path", [API, INTERNAL])
def test_expired_credential_is_refused(client, mint, path):
    expired = mint("monolith", now=time.time() - TTL - 5)
    _assert_credential_required(client.get(path, **{_META: expired}))


def test_credential_signed_with_another_secret_is_refused(client):
    _assert_credential_required(client.get(API, **{_META: credential_mint("another-secret", "strangler", audience="payments-service")}))


@pytest.mark.parametrize(("path", "caller"), [
    (INTERNAL, "strangler"),  # the proxy never calls internal endpoints
    (INTERNAL, "payments-service"),
    (API, "payments-service"),
    (API, "someone-else"),
])
def test_caller_not_allowed_on_the_prefix_is_refused(client, mint, path, caller):
    _assert_credential_required(client.get(path, **{_META: mint(caller)}))


@pytest.mark.parametrize("caller", ["strangler", "monolith"])
def test_allowed_callers_pass_the_guard_and_then_need_a_user_token(client, mint, caller):
    response = client.get(API, **{_META: mint(caller)})
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "not_authenticated"
    assert response["WWW-Authenticate"] == "Token"


@pytest.mark.django_db
def test_the_monolith_passes_the_internal_guard(client, mint):
    response = client.get(INTERNAL, **{_META: mint("monolith")})
    assert response.status_code != 401, response.content


def test_healthz_is_open(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


@pytest.mark.django_db
def test_readyz_is_open_and_checks_database_and_broker(client, monkeypatch):
    from payments_service.celery import app

    # The machine's Redis (the default broker is make run's embedded one, not up during tests).
    monkeypatch.setitem(app.conf, "CELERY_BROKER_URL", "redis://127.0.0.1:6379/14")
    response = client.get("/readyz")
    assert response.status_code == 200, response.content
    assert response.json() == {"status": "ok", "checks": {"database": "ok", "broker": "ok"}}


@pytest.mark.django_db
def test_readyz_is_503_when_the_broker_is_unreachable(client, monkeypatch):
    from payments_service.celery import app

    monkeypatch.setitem(app.conf, "CELERY_BROKER_URL", "redis://127.0.0.1:1/0")
    monkeypatch.setitem(app.conf, "CELERY_BROKER_TRANSPORT_OPTIONS", {})
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["checks"]["broker"].startswith("error: ")


def test_unknown_paths_answer_the_error_shape(client):
    response = client.get("/nowhere")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


def test_the_schema_is_behind_the_guard_and_describes_the_token_scheme(client, mint):
    _assert_credential_required(client.get("/api/schema/"))
    response = client.get("/api/schema/", HTTP_X_INTERNAL_CREDENTIAL=mint("strangler"))
    assert response.status_code == 200
    assert b"tokenAuth" in response.content and b"/api/v1/payments/" in response.content


def test_the_schema_says_what_the_guard_and_the_introspection_answer(client, mint):
    """Each public operation needs the proxy's credential and a user token (declared together), and
    documents the guard's 401 and the introspection's 503, with the kit's error body."""
    import yaml

    document = yaml.safe_load(client.get("/api/schema/", HTTP_X_INTERNAL_CREDENTIAL=mint("strangler")).content)
    assert set(document["components"]["securitySchemes"]) == {"tokenAuth", "internalCredential"}
    operations = [op for item in document["paths"].values() for op in item.values()]
    assert operations
    for operation in operations:
        assert operation["security"] == [{"tokenAuth": [], "internalCredential": []}]
        for status in ("401", "503"):
            content = operation["responses"][status]["content"]["application/json"]
            assert content["schema"] == {"$ref": "#/components/schemas/Error"}


@pytest.mark.parametrize("value", ["v1.strangler.4102444800." + "é" * 43,
                                   "v2.strangler.payments-service.4102444800." + "é" * 43])
def test_a_non_ascii_credential_is_401_not_500(client, value):
    _assert_credential_required(client.get(API, **{_META: value}))


def test_a_credential_minted_for_another_service_is_refused(client, settings):
    # Same root secret, same allowed caller, but minted for catalog: payments refuses it.
    value = credential_mint(settings.INTERNAL_AUTH_SECRET, "strangler", audience="catalog")
    _assert_credential_required(client.get(API, **{_META: value}))


def test_pairwise_keys_hold_only_this_services_pairs(client, settings):
    from strangler.proxy.credentials import Keyring

    settings.INTERNAL_AUTH_SECRET = ""
    settings.INTERNAL_AUTH_KEYS = {"strangler>payments-service": "pair-key"}
    proxy = Keyring(pairs={"strangler>payments-service": "pair-key"})
    ok = client.get(API, **{_META: credential_mint(proxy, "strangler", audience="payments-service")})
    assert ok.json()["error"]["code"] == "not_authenticated"  # past the guard, on to the user token
    forged = Keyring(pairs={"strangler>payments-service": "another-key"})
    _assert_credential_required(client.get(API, **{_META: credential_mint(forged, "strangler",
                                                                           audience="payments-service")}))
    # No monolith>payments-service pair here: the monolith's credentials are refused however signed.
    _assert_credential_required(client.get(API, **{_META: credential_mint("pair-key", "monolith",
                                                                           audience="payments-service")}))
