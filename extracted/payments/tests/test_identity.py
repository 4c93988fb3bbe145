"""End-user identity in-process, against a fake monolith speaking the introspection contract:
who is asked, with which credential, what is cached, and what the client sees when it fails."""

from __future__ import annotations

import dataclasses
import uuid

import pytest

from payments_service.auth import ServiceUser
from payments_service.identity import TokenIntrospector
from strangler.proxy.credentials import CredentialSource
from tests.live import free_port

API = "/api/v1/payments/"


@pytest.fixture
def call(client, mint):
    def _call(token: str | None = None, *, method: str = "get", path: str = API, **kwargs):
        headers = {"HTTP_X_INTERNAL_CREDENTIAL": mint("strangler")}
        if token is not None:
            headers["HTTP_AUTHORIZATION"] = f"Token {token}"
        return getattr(client, method)(path, content_type="application/json", **headers, **kwargs)

    return _call


def _error(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.content
    body = response.json()
    assert body["error"]["code"] == code
    assert set(body["error"]) == {"code", "message", "fields"}
    return body


@pytest.mark.django_db
def test_an_active_token_authenticates_and_the_monolith_is_asked_as_payments_service(fake_monolith, call):
    fake_monolith.tokens["tok-a"] = uuid.uuid4()
    response = call("tok-a")
    assert response.status_code == 200, response.content
    assert response.json() == []
    assert fake_monolith.calls == [{"caller": "payments-service", "token": "tok-a",
                                    "path": "/internal/v1/users/introspect/"}]


@pytest.mark.django_db
def test_answers_are_cached(fake_monolith, call):
    fake_monolith.tokens["tok-a"] = uuid.uuid4()
    assert call("tok-a").status_code == 200
    assert call("tok-a").status_code == 200
    _error(call("tok-unknown"), 401, "authentication_failed")
    _error(call("tok-unknown"), 401, "authentication_failed")
    assert [c["token"] for c in fake_monolith.calls] == ["tok-a", "tok-unknown"]


def test_an_inactive_token_is_401_with_a_token_challenge(fake_monolith, call):
    response = call("nobody-has-this")
    _error(response, 401, "authentication_failed")
    assert response["WWW-Authenticate"] == "Token"


def test_no_token_is_401_without_asking_the_monolith(fake_monolith, call):
    response = call()
    _error(response, 401, "not_authenticated")
    assert response["WWW-Authenticate"] == "Token"
    assert fake_monolith.calls == []


@pytest.mark.parametrize("header", ["Token", "Token a b", "Token \x7f"])
def test_a_malformed_token_header_is_401_without_asking_the_monolith(fake_monolith, client, mint, header):
    response = client.get(API, HTTP_X_INTERNAL_CREDENTIAL=mint("strangler"), HTTP_AUTHORIZATION=header)
    _error(response, 401, "authentication_failed")
    assert fake_monolith.calls == []


@pytest.mark.parametrize("mode", ["error", "garbage"])
def test_a_failing_monolith_is_503_identity_unavailable_not_401(fake_monolith, call, mode):
    fake_monolith.tokens["tok-a"] = uuid.uuid4()
    fake_monolith.mode = mode
    response = call("tok-a")
    _error(response, 503, "identity_unavailable")
    assert response["Retry-After"] == "1"


def test_a_refused_credential_is_503_not_a_bad_user_token(fake_monolith, call, settings):
    # The service signs with a secret the monolith does not share: a deployment error.
    fake_monolith.tokens["tok-a"] = uuid.uuid4()
    settings.INTERNAL_AUTH_SECRET = "not-the-monoliths-secret"
    response = call("tok-a")
    _error(response, 503, "identity_unavailable")
    assert fake_monolith.calls[-1]["caller"] is None  # the fake refused it, as the monolith would


def test_an_unreachable_monolith_is_503_with_retry_after(fake_monolith, call, settings):
    settings.MONOLITH_URL = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    response = call("tok-a")
    _error(response, 503, "identity_unavailable")
    assert response["Retry-After"] == "1"


def test_failures_are_not_cached(fake_monolith, call):
    fake_monolith.tokens["tok-a"] = uuid.uuid4()
    fake_monolith.mode = "error"
    _error(call("tok-a"), 503, "identity_unavailable")
    fake_monolith.mode = "ok"
    assert call("tok-a").status_code != 503


@pytest.mark.django_db
def test_a_charge_belongs_to_the_introspected_user(fake_monolith, call):
    from monolith.payments.models import Payment

    user_id = uuid.uuid4()
    fake_monolith.tokens["tok-a"] = user_id
    response = call("tok-a", method="post", data={"order_id": str(fake_monolith.order_for(user_id)),
                                                  "amount_minor": 1250, "currency": "EUR", "card_token": "tok_visa"},
                    HTTP_IDEMPOTENCY_KEY=f"k-{uuid.uuid4()}")
    assert response.status_code == 201, response.content
    assert Payment.objects.get(pk=response.json()["id"]).user_id == user_id


@pytest.mark.django_db
def test_a_charge_for_an_order_the_monolith_says_is_someone_elses_is_404_and_writes_nothing(fake_monolith, call):
    from monolith.payments.models import Payment

    fake_monolith.tokens["tok-a"] = uuid.uuid4()
    body = {"amount_minor": 1250, "currency": "EUR", "card_token": "tok_visa"}
    for order_id in (fake_monolith.order_for(uuid.uuid4()), uuid.uuid4()):  # another user's; no such order
        response = call("tok-a", method="post", data={**body, "order_id": str(order_id)},
                        HTTP_IDEMPOTENCY_KEY=f"k-{uuid.uuid4()}")
        _error(response, 404, "order_not_found")
    assert not Payment.objects.exists()


@pytest.mark.django_db
def test_a_charge_whose_order_owner_cannot_be_told_is_503_with_retry_after(fake_monolith, call):
    from monolith.payments.models import Payment

    user_id = uuid.uuid4()
    fake_monolith.tokens["tok-a"] = user_id
    order_id = fake_monolith.order_for(user_id)
    assert call("tok-a").status_code == 200  # the token is known (and cached) before the monolith fails
    fake_monolith.mode = "error"
    response = call("tok-a", method="post", data={"order_id": str(order_id), "amount_minor": 1250,
                                                  "currency": "EUR", "card_token": "tok_visa"},
                    HTTP_IDEMPOTENCY_KEY=f"k-{uuid.uuid4()}")
    _error(response, 503, "orders_unavailable")
    assert int(response["Retry-After"]) >= 1
    assert not Payment.objects.exists()


class _Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _introspector(fake, clock: _Clock, **kwargs) -> TokenIntrospector:
    return TokenIntrospector(monolith_url=fake.url, credentials=CredentialSource(fake.secret, "payments-service", audience="monolith"),
                             timeout=(0.5, 2), clock=clock, **kwargs)


def test_active_answers_live_30_seconds_inactive_5(fake_monolith_server):
    fake = fake_monolith_server
    fake.reset()
    user_id = uuid.uuid4()
    fake.tokens["tok-a"] = user_id
    clock = _Clock()
    introspector = _introspector(fake, clock)
    assert introspector.user_id("tok-a") == user_id
    assert introspector.user_id("tok-x") is None
    clock.now += 4.9
    introspector.user_id("tok-a"), introspector.user_id("tok-x")
    assert len(fake.calls) == 2
    clock.now += 0.2  # 5.1 s: the inactive answer is asked again, the active one is not
    introspector.user_id("tok-a"), introspector.user_id("tok-x")
    assert [c["token"] for c in fake.calls] == ["tok-a", "tok-x", "tok-x"]
    clock.now += 25  # 30.1 s after the first answer
    del fake.tokens["tok-a"]  # revoked meanwhile
    assert introspector.user_id("tok-a") is None


def test_the_cache_is_bounded_least_recently_used_out(fake_monolith_server):
    fake = fake_monolith_server
    fake.reset()
    for name in ("t1", "t2", "t3"):
        fake.tokens[name] = uuid.uuid4()
    introspector = _introspector(fake, _Clock(), max_entries=2)
    introspector.user_id("t1"), introspector.user_id("t2")
    introspector.user_id("t1")  # t1 is now the most recently used
    introspector.user_id("t3")  # evicts t2
    fake.calls.clear()
    introspector.user_id("t1"), introspector.user_id("t3")
    assert fake.calls == []
    introspector.user_id("t2")
    assert [c["token"] for c in fake.calls] == ["t2"]


def test_the_service_user_is_a_frozen_id():
    user_id = uuid.uuid4()
    user = ServiceUser(pk=user_id)
    assert (user.pk, user.id, user.is_authenticated, user.is_anonymous) == (user_id, user_id, True, False)
    with pytest.raises(dataclasses.FrozenInstanceError):
        user.pk = uuid.uuid4()  # type: ignore[misc]
