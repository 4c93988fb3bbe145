"""The kit's remote-client base without a network: scripted answers through its session show the
retries resending the same Idempotency-Key, the breaker failing fast and the error mapping."""

from __future__ import annotations

from typing import Any

import pytest
import requests

from strangler.django.errors import Conflict, DomainError
from strangler.django.internal_auth import HEADER, CredentialSource
from strangler.django.remote_client import ProcessClient, RemoteClient, ServiceUnavailable, breaker_from
from strangler.proxy.types import BreakerState


class BillingUnavailable(ServiceUnavailable):
    code = "billing_unavailable"


class BillingClient(RemoteClient):
    service = "billing"
    unavailable = BillingUnavailable
    bad_gateway_code = "billing_bad_gateway"

    def invoice_create(self, *, idempotency_key: str) -> dict[str, Any]:
        return self._parsed(lambda d: {"id": d["id"]}, self._call("POST", "/internal/invoices/", json={},
                                                                   idempotency_key=idempotency_key))


class _Answer:
    def __init__(self, status: int, body: Any) -> None:
        self.status_code, self._body = status, body

    def json(self) -> Any:
        if self._body is None:
            raise ValueError("no JSON")
        return self._body


def _client(answers: list[Any], *, failures: int = 5) -> tuple[BillingClient, list[dict[str, str]]]:
    client = BillingClient(base_url="http://billing.invalid/",
                           credentials=CredentialSource("s3cret", "monolith", audience="billing"),
                           connect_timeout=0.1, read_timeout=0.1, retries=2, breaker=breaker_from(failures=failures),
                           sleep=lambda _: None)
    sent: list[dict[str, str]] = []

    def request(method: str, url: str, **kwargs: Any) -> _Answer:
        sent.append(kwargs["headers"])
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    client._session.request = request  # type: ignore[method-assign]
    return client, sent


def test_retries_resend_the_same_idempotency_key_and_a_fresh_credential():
    client, sent = _client([requests.ConnectionError("down"), _Answer(503, None), _Answer(200, {"id": "i-1"})])
    assert client.invoice_create(idempotency_key="k-1") == {"id": "i-1"}
    assert [h["Idempotency-Key"] for h in sent] == ["k-1", "k-1", "k-1"]
    assert all(h[HEADER].startswith("v2.monolith.billing.") for h in sent)


def test_no_answer_is_the_contexts_unavailable_error_and_the_breaker_opens():
    client, _ = _client([requests.Timeout("slow")] * 3, failures=3)
    with pytest.raises(BillingUnavailable) as exc:
        client.invoice_create(idempotency_key="k-2")
    assert (exc.value.status_code, exc.value.code) == (503, "billing_unavailable")
    assert client.breaker.state is BreakerState.OPEN
    with pytest.raises(BillingUnavailable, match="circuit open"):
        client.invoice_create(idempotency_key="k-2")


def test_a_busy_answer_is_retried_but_never_opens_the_breaker():
    busy = {"error": {"code": "ledger_closing", "message": "closing the day; retry", "fields": {}}}
    client, sent = _client([_Answer(503, busy)] * 6, failures=3)
    client.busy_codes = frozenset({"ledger_closing"})
    for key in ("k-4", "k-5"):
        with pytest.raises(BillingUnavailable, match="ledger_closing"):
            client.invoice_create(idempotency_key=key)
    assert len(sent) == 6  # every attempt reached the service: 3 + 3, none refused by an open breaker
    assert client.breaker.state is BreakerState.CLOSED
    client.busy_codes = frozenset()  # without the declaration the same answers are failures
    client._session.request = _client([_Answer(503, busy)] * 3, failures=3)[0]._session.request
    with pytest.raises(BillingUnavailable):
        client.invoice_create(idempotency_key="k-6")
    assert client.breaker.state is BreakerState.OPEN


def test_refusals_keep_the_services_code_and_nonsense_is_a_bad_gateway():
    error = {"error": {"code": "invoice_closed", "message": "closed", "fields": {}}}
    client, _ = _client([_Answer(409, error), _Answer(418, None), _Answer(200, {"no": "id"})])
    with pytest.raises(Conflict) as exc:
        client.invoice_create(idempotency_key="k-3")
    assert exc.value.code == "invoice_closed"
    for _ in range(2):
        with pytest.raises(DomainError) as exc:
            client.invoice_create(idempotency_key="k-3")
        assert (exc.value.status_code, exc.value.code) == (502, "billing_bad_gateway")


def test_the_process_client_is_rebuilt_when_its_settings_change(settings):
    built = []
    process_client = ProcessClient(lambda: built.append(1) or _client([])[0], settings={"BILLING_URL"})
    first = process_client.get()
    assert process_client.get() is first
    settings.BILLING_URL = "http://elsewhere.invalid"
    assert process_client.get() is not first and len(built) == 2


def test_a_settings_client_is_built_from_its_prefixed_settings_and_rebuilt_when_one_changes(settings):
    from strangler.django.remote_client import settings_client

    settings.BILLING_SERVICE_URL, settings.BILLING_SERVICE_AUDIENCE = "http://billing.invalid/", "billing-service"
    settings.BILLING_CONNECT_TIMEOUT, settings.BILLING_READ_TIMEOUT, settings.BILLING_RETRIES = 0.25, 3, 1
    settings.BILLING_BREAKER_FAILURES = 2
    holder = settings_client(RemoteClient, prefix="BILLING")
    first = holder.get()
    assert (first.base_url, first._timeout, first._retries) == ("http://billing.invalid", (0.25, 3.0), 1)
    assert first._credentials.audience == "billing-service"
    for _ in range(2):
        first.breaker.on_failure()
    assert first.breaker.state is BreakerState.OPEN  # BILLING_BREAKER_FAILURES, not the default 5
    settings.BILLING_READ_TIMEOUT = 9
    assert holder.get() is not first and holder.get()._timeout == (0.25, 9.0)
    # Another URL setting and a literal audience (a service calling the monolith back).
    settings.LEDGER_URL = "http://ledger.invalid"
    back = settings_client(RemoteClient, prefix="BILLING", url="LEDGER_URL", audience="monolith").get()
    assert (back.base_url, back._credentials.audience) == ("http://ledger.invalid", "monolith")
