import pytest

from monolith.users.models import User

pytestmark = pytest.mark.django_db

REGISTER = "/api/v1/users/"
TOKEN = "/api/v1/users/token/"
ME = "/api/v1/users/me/"


def _assert_error(response, status, code):
    assert response.status_code == status, response.content
    body = response.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"code", "message", "fields"}
    assert body["error"]["code"] == code
    return body["error"]


def test_register_login_and_me(api_client):
    response = api_client.post(REGISTER, {"email": "Ann@Example.com", "password": "long-enough-pass",
                                          "full_name": "Ann"}, format="json")
    assert response.status_code == 201, response.content
    created = response.json()
    assert created["email"] == "ann@example.com" and created["full_name"] == "Ann"
    assert "password" not in created
    assert User.objects.filter(pk=created["id"]).exists()

    response = api_client.post(TOKEN, {"email": "ann@example.com", "password": "long-enough-pass"}, format="json")
    assert response.status_code == 200
    token = response.json()["token"]

    api_client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    response = api_client.get(ME)
    assert response.status_code == 200
    assert response.json()["id"] == created["id"]
    assert response.json()["email"] == "ann@example.com"


def test_register_with_a_stale_token_header_still_works(api_client):
    api_client.credentials(HTTP_AUTHORIZATION="Token not-a-real-token")
    response = api_client.post(REGISTER, {"email": "b@example.com", "password": "long-enough-pass"}, format="json")
    assert response.status_code == 201


def test_register_duplicate_is_409(api_client, user):
    response = api_client.post(REGISTER, {"email": user.email.upper(), "password": "long-enough-pass"},
                               format="json")
    error = _assert_error(response, 409, "email_taken")
    assert "email" in error["fields"]


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"email": "nope", "password": "long-enough-pass"}, "email"),
        ({"email": "c@example.com", "password": "short"}, "password"),
        ({"password": "long-enough-pass"}, "email"),
        ({"email": "c@example.com"}, "password"),
        ({"email": "c@example.com", "password": "long-enough-pass", "full_name": "x" * 151}, "full_name"),
    ],
)
def test_register_invalid_input_is_400_with_field(api_client, payload, field):
    error = _assert_error(api_client.post(REGISTER, payload, format="json"), 400, "validation_error")
    assert field in error["fields"]
    assert not User.objects.exists()


def test_register_rejects_non_json(api_client):
    response = api_client.post(REGISTER, "email=a@b.com", content_type="application/x-www-form-urlencoded")
    _assert_error(response, 415, "unsupported_media_type")


def test_token_with_wrong_password_is_400(api_client, user):
    response = api_client.post(TOKEN, {"email": user.email, "password": "wrong-password"}, format="json")
    _assert_error(response, 400, "invalid_credentials")


def test_me_requires_authentication(api_client):
    _assert_error(api_client.get(ME), 401, "not_authenticated")


def test_me_with_bad_token_is_401(api_client):
    api_client.credentials(HTTP_AUTHORIZATION="Token deadbeef")
    _assert_error(api_client.get(ME), 401, "authentication_failed")


def test_me(auth_client, user):
    response = auth_client.get(ME)
    assert response.status_code == 200
    assert response.json() == {"id": str(user.id), "email": user.email, "full_name": "",
                               "date_joined": response.json()["date_joined"]}
