"""idempotency.idempotent through a tiny DRF view: what a client sees on retries."""

import datetime as dt
import uuid

import pytest
from django.utils import timezone
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.test import APIRequestFactory, force_authenticate
from rest_framework.views import APIView

from strangler.django.errors import Conflict, DomainError
from strangler.django.idempotency.models import IdempotencyRecord
from strangler.django.idempotency.services import (
    STALE_CLAIM,
    idempotency_purge,
    idempotent,
    request_fingerprint,
)

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


# -- Stripe's semantics: only a request that committed nothing may release its key --------------

class WritingView(APIView):
    """Commits a row, then fails (or not): the key must keep what the first request did."""

    authentication_classes: list = []
    permission_classes = [AllowAny]
    runs: list = []

    def post(self, request: Request) -> Response:
        return idempotent(request, scope="tests.write", handler=lambda: self._write(request))

    def _write(self, request: Request) -> Response:
        from django.db import transaction

        from strangler.django.outbox.models import InboxMessage

        type(self).runs.append(request.data)
        with transaction.atomic():
            InboxMessage.objects.create(event_id=uuid.uuid4(), consumer="tests.write", event_type="tests.Written")
            if request.data.get("roll_back"):
                raise RuntimeError("failed before anything committed")
        if request.data.get("explode"):
            raise RuntimeError("failed after the row committed")
        if request.data.get("taken_over"):
            # While this request runs (too long), a retry takes its stale claim over ...
            IdempotencyRecord.objects.filter(scope="tests.write").update(
                locked_at=timezone.now(), **({"owner": "the-retry"} if _has_owner() else {}))
            raise RuntimeError("... and then this first request fails")
        return Response({"written": True}, status=201)


def _has_owner() -> bool:
    return any(f.name == "owner" for f in IdempotencyRecord._meta.get_fields())


def write(body, key="w-1"):
    return WritingView.as_view()(factory.post("/tests/write/", body, format="json", HTTP_IDEMPOTENCY_KEY=key))


@pytest.fixture(autouse=True)
def _reset_writes():
    WritingView.runs = []


def test_a_failure_after_a_commit_keeps_the_key_and_replays_the_failure():
    from strangler.django.outbox.models import InboxMessage

    first = write({"explode": True})
    assert first.status_code == 500
    again = write({"explode": True})
    assert (again.status_code, again.data) == (500, first.data)
    assert again["Idempotent-Replayed"] == "true"
    assert len(WritingView.runs) == 1 and InboxMessage.objects.count() == 1  # not run (written) twice


def test_a_failure_that_committed_nothing_releases_the_key():
    from strangler.django.outbox.models import InboxMessage

    assert write({"roll_back": True}).status_code == 500
    assert not IdempotencyRecord.objects.exists() and not InboxMessage.objects.exists()
    assert write({"roll_back": True}).status_code == 500
    assert len(WritingView.runs) == 2


def test_the_first_requests_failure_cannot_release_a_claim_taken_over_by_its_retry():
    response = write({"taken_over": True})
    assert response.status_code == 500
    # The retry's claim is still there (pending, its own), so a third request waits instead of running.
    record = IdempotencyRecord.objects.get(scope="tests.write")
    assert record.state == IdempotencyRecord.PENDING
    assert write({"taken_over": True}).status_code == 409


def test_a_refusal_that_depends_on_a_passing_state_is_not_stored():
    class Pending(APIView):
        authentication_classes: list = []
        permission_classes = [AllowAny]
        state = {"captured": False, "runs": 0}

        def post(self, request):
            return idempotent(request, scope="tests.refund", handler=self._refund)

        def _refund(self):
            type(self).state["runs"] += 1
            if not type(self).state["captured"]:
                raise Conflict("the payment is pending", code="payment_not_captured", transient=True)
            return Response({"refunded": True}, status=201)

    def refund():
        return Pending.as_view()(factory.post("/tests/refund/", {}, format="json", HTTP_IDEMPOTENCY_KEY="r-1"))

    assert refund().status_code == 409
    assert not IdempotencyRecord.objects.exists()
    Pending.state["captured"] = True
    assert refund().status_code == 201
    assert Pending.state["runs"] == 2
