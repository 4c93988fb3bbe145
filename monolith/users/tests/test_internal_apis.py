"""Token introspection for extracted services: POST /internal/v1/users/introspect/."""

from __future__ import annotations

import pytest
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from strangler.proxy.credentials import HEADER, credential_mint

URL = "/internal/v1/users/introspect/"
_META = "HTTP_" + HEADER.upper().replace("-", "_")


@pytest.fixture
def token(user) -> str:
    return Token.objects.get_or_create(user=user)[0].key


def test_an_active_token_names_its_user(token, user, internal_client):
    response = internal_client().post(URL, {"token": token}, format="json")
    assert response.status_code == 200
    assert response.json() == {"active": True, "user_id": str(user.pk)}


@pytest.mark.parametrize("value", ["no-such-token", "", "x" * 256])
def test_unknown_tokens_are_inactive(db, value, internal_client):
    response = internal_client().post(URL, {"token": value}, format="json")
    if value == "":
        assert response.status_code == 400
        return
    assert (response.status_code, response.json()) == (200, {"active": False})


def test_a_deactivated_users_token_is_inactive(token, user, internal_client):
    user.is_active = False
    user.save(update_fields=["is_active"])
    assert internal_client().post(URL, {"token": token}, format="json").json() == {"active": False}


@pytest.mark.parametrize("body", [{}, {"token": 42}, {"token": ["a"]}, {"token": "x" * 257}])
def test_bad_input_is_a_400_in_the_error_shape(db, body, internal_client):
    response = internal_client().post(URL, body, format="json")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "validation_error"
    assert "token" in response.json()["error"]["fields"]


def test_a_user_token_alone_is_not_enough(token, internal_client):
    client = internal_client(caller=None)
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    response = client.post(URL, {"token": token}, format="json")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "internal_credential_required"


def test_a_credential_of_another_caller_or_secret_is_refused(token, internal_client):
    assert internal_client(caller="strangler").post(URL, {"token": token}, format="json").status_code == 401
    forged = APIClient()
    forged.credentials(**{_META: credential_mint("another-secret", "payments-service", audience="monolith")})
    assert forged.post(URL, {"token": token}, format="json").status_code == 401


def test_the_monolith_may_introspect_too(token, user, internal_client):
    assert internal_client(caller="monolith").post(URL, {"token": token}, format="json").json()["user_id"] == str(user.pk)
