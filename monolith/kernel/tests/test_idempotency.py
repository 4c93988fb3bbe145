"""idempotency.idempotent through a tiny DRF view: what a client sees on retries."""

import datetime as dt

import pytest
from django.utils import timezone
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.test import APIRequestFactory, force_authenticate
from rest_framework.views import APIView

from monolith.kernel.errors import Conflict, DomainError
from monolith.kernel.idempotency import STALE_CLAIM, idempotency_purge, idempotent, request_fingerprint
from monolith.kernel.models import IdempotencyRecord

pytestmark = pytest.mark.django_db

PATH = "/tests/charge/"
factory = APIRequestFactory()


class Busy(Conflict):
    code = "busy"


class ChargeView(APIView):
    """Answers with the body's "status" (default 201) and counts how often it really ran."""

    authentication_classes: list = []
    permission_classes = [AllowAny]
    runs: list = []

    def post(self, request: Request) -> Response:
        return idempotent(request, scope="tests.charge", handler=lambda: self._charge(request), transient=(Busy,))

    def _charge(self, request: Request) -> Response:
        type(self).runs.append(request.data)
        if request.data.get("explode"):
            raise RuntimeError("crashed mid-request")
        if request.data.get("decline"):
            raise DomainError("card declined", code="card_declined", status_code=402)
        if request.data.get("busy"):
            raise Busy("try again shortly")
        return Response({"charged": request.data.get("amount"), "run": len(type(self).runs)},
                        status=request.data.get("status", 201))


@pytest.fixture(autouse=True)
def _reset_runs():
    ChargeView.runs = []


def call(body, *, key="key-1", user=None):
    headers = {"HTTP_IDEMPOTENCY_KEY": key} if key is not None else {}
    request = factory.post(PATH, body, format="json", **headers)
    if user is not None:
        force_authenticate(request, user=user)
    return ChargeView.as_view()(request)


def test_replay_returns_the_first_response_without_running_again():
    first = call({"amount": 100})
    second = call({"amount": 100})
    assert first.status_code == second.status_code == 201
    assert second.data == first.data == {"charged": 100, "run": 1}
    assert second["Idempotent-Replayed"] == "true"
    assert not first.has_header("Idempotent-Replayed")
    assert len(ChargeView.runs) == 1


def test_key_order_in_the_body_does_not_matter():
    call({"amount": 100, "note": "x"})
    assert call({"note": "x", "amount": 100}).status_code == 201
    assert len(ChargeView.runs) == 1


def test_same_key_with_another_body_is_422():
    call({"amount": 100})
    response = call({"amount": 999})
    assert response.status_code == 422
    assert response.data["error"]["code"] == "idempotency_key_reused"
    assert len(ChargeView.runs) == 1


def test_same_key_from_another_user_is_not_a_replay(user):
    call({"amount": 100})
    response = call({"amount": 100}, user=user)
    assert response.status_code == 422
    assert len(ChargeView.runs) == 1


def test_different_keys_run_separately():
    call({"amount": 100}, key="a")
    call({"amount": 100}, key="b")
    assert len(ChargeView.runs) == 2


@pytest.mark.parametrize(("key", "code"), [(None, "idempotency_key_missing"), ("", "idempotency_key_invalid"),
                                           ("has space", "idempotency_key_invalid"),
                                           ("x" * 256, "idempotency_key_invalid")])
def test_missing_or_invalid_key_is_400(key, code):
    response = call({"amount": 1}, key=key)
    assert response.status_code == 400
    assert response.data["error"]["code"] == code
    assert ChargeView.runs == []
    assert not IdempotencyRecord.objects.exists()


def _claim(*, locked_ago: dt.timedelta, body: dict) -> IdempotencyRecord:
    """A pending record as a request that is still running (or crashed) would have left it."""
    request = Request(factory.post(PATH, body, format="json"))
    now = timezone.now()
    return IdempotencyRecord.objects.create(scope="tests.charge", key="key-1", fingerprint=request_fingerprint(request),
                                            created_at=now - locked_ago, locked_at=now - locked_ago)


def test_a_running_claim_answers_409_retry_after():
    _claim(locked_ago=dt.timedelta(seconds=1), body={"amount": 5})
    response = call({"amount": 5})
    assert response.status_code == 409
    assert response.data["error"]["code"] == "request_in_progress"
    assert response["Retry-After"] == "1"
    assert ChargeView.runs == []


def test_a_stale_claim_is_taken_over():
    _claim(locked_ago=STALE_CLAIM + dt.timedelta(seconds=1), body={"amount": 5})
    response = call({"amount": 5})
    assert response.status_code == 201
    assert len(ChargeView.runs) == 1
    assert IdempotencyRecord.objects.get().state == IdempotencyRecord.COMPLETED
    assert call({"amount": 5}).data == response.data  # and now replays


@pytest.mark.parametrize("status", [400, 404, 422])
def test_input_errors_are_not_stored(status):
    assert call({"amount": 1, "status": status}).status_code == status
    assert not IdempotencyRecord.objects.exists()
    assert call({"amount": 1, "status": status}).status_code == status
    assert len(ChargeView.runs) == 2  # the client may correct and retry with the same key


@pytest.mark.parametrize("status", [402, 409])
def test_business_refusals_are_stored(status):
    call({"amount": 1, "status": status})
    response = call({"amount": 1, "status": status})
    assert response.status_code == status and response["Idempotent-Replayed"] == "true"
    assert len(ChargeView.runs) == 1


def test_a_crash_releases_the_key():
    # The kernel's exception handler renders the crash as a 500; the claim must not survive it.
    assert call({"amount": 1, "explode": True}).status_code == 500
    assert not IdempotencyRecord.objects.exists()
    assert call({"amount": 1, "explode": True}).status_code == 500
    assert len(ChargeView.runs) == 2


def test_expired_key_starts_afresh_even_with_another_body(settings):
    call({"amount": 1})
    IdempotencyRecord.objects.update(created_at=timezone.now() - dt.timedelta(hours=settings.IDEMPOTENCY_TTL_HOURS + 1))
    response = call({"amount": 2})
    assert response.status_code == 201 and response.data["charged"] == 2
    assert len(ChargeView.runs) == 2


def test_purge_deletes_only_expired_records(settings):
    call({"amount": 1}, key="old")
    call({"amount": 1}, key="new")
    ttl = dt.timedelta(hours=settings.IDEMPOTENCY_TTL_HOURS)
    IdempotencyRecord.objects.filter(key="old").update(created_at=timezone.now() - ttl - dt.timedelta(minutes=1))
    IdempotencyRecord.objects.filter(key="new").update(created_at=timezone.now() - ttl + dt.timedelta(minutes=1))

    assert idempotency_purge() == 1
    assert list(IdempotencyRecord.objects.values_list("key", flat=True)) == ["new"]


def test_a_domain_refusal_is_rendered_stored_and_replayed():
    first = call({"decline": True})
    assert first.status_code == 402
    assert first.data == {"error": {"code": "card_declined", "message": "card declined", "fields": {}}}
    replay = call({"decline": True})
    assert (replay.status_code, replay.data, replay["Idempotent-Replayed"]) == (402, first.data, "true")
    assert len(ChargeView.runs) == 1


def test_a_transient_refusal_propagates_and_forgets_the_key():
    response = call({"busy": True})  # rendered by the API's exception handler, not by idempotent()
    assert (response.status_code, response.data["error"]["code"]) == (409, "busy")
    assert not IdempotencyRecord.objects.exists()
    assert call({"busy": False}, key="key-1").status_code == 201  # same key, free again
