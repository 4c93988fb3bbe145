"""Retries of the remote client against a real HTTP server that misbehaves on cue: every attempt
carries the same Idempotency-Key and a valid internal credential; only transport failures retry."""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.conf import settings as django_settings

from monolith.kernel.money import Money
from monolith.payments import interface
from monolith.payments.remote import PaymentsUnavailable
from strangler.django.errors import DomainError
from strangler.proxy.credentials import credential_verify

ORDER_ID, USER_ID, PAYMENT_ID = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
PAYMENT = {"id": str(PAYMENT_ID), "order_id": str(ORDER_ID), "user_id": str(USER_ID), "amount_minor": 4500,
           "currency": "EUR", "status": "captured", "failure_reason": "", "processor_ref": "ch_1",
           "captured_minor": 4500, "refunded_minor": 0, "created_at": "2025-01-02T03:04:05.678901Z"}


class Scripted:
    """A server answering from a script of (status, body) and recording what each attempt sent."""

    def __init__(self) -> None:
        self.script: list[tuple[int, object]] = []
        self.seen: list[dict[str, str]] = []
        scripted = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                self.rfile.read(length)
                scripted.seen.append({k.lower(): v for k, v in self.headers.items()})
                status, body = scripted.script.pop(0) if scripted.script else (500, None)
                raw = b"<html>bad gateway</html>" if body is None else json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "text/html" if body is None else "application/json")
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

            do_GET = do_POST = _answer

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server(settings) -> Iterator[Scripted]:
    scripted = Scripted()
    settings.PAYMENTS_IMPL = "remote"
    settings.PAYMENTS_SERVICE_URL = scripted.url
    settings.PAYMENTS_RETRIES = 2
    settings.PAYMENTS_BREAKER_FAILURES = 10
    try:
        yield scripted
    finally:
        scripted.close()


def _charge() -> interface.PaymentDTO:
    return interface.payment_charge(order_id=ORDER_ID, user_id=USER_ID, amount=Money(4500, "EUR"),
                                    card_token="tok_visa", idempotency_key=f"orders.checkout:{ORDER_ID}")


def test_lost_answers_are_retried_with_the_same_key_and_a_valid_credential(server):
    server.script = [(502, None), (503, {"error": {"code": "unavailable", "message": "", "fields": {}}}),
                     (200, PAYMENT)]
    payment = _charge()
    assert (payment.id, payment.status, payment.created_at.tzinfo is not None) == (PAYMENT_ID, "captured", True)
    assert [h["idempotency-key"] for h in server.seen] == [f"orders.checkout:{ORDER_ID}"] * 3
    assert {credential_verify(django_settings.INTERNAL_AUTH_SECRET, h["x-internal-credential"],
                              audience="payments-service")
            for h in server.seen} == {"monolith"}


def test_retries_are_bounded_then_unavailable(server):
    server.script = [(500, None)] * 5  # 5xx without our error body: a proxy's page, worth a retry
    with pytest.raises(PaymentsUnavailable) as exc:
        _charge()
    assert len(server.seen) == 3
    assert exc.value.retry_after >= 1


def test_a_5xx_with_our_error_body_is_not_retried(server):
    server.script = [(500, {"error": {"code": "server_error", "message": "boom", "fields": {}}})]
    with pytest.raises(PaymentsUnavailable):
        _charge()
    assert len(server.seen) == 1


def test_processor_timeout_keeps_its_code_and_status(server):
    server.script = [(504, {"error": {"code": "processor_timeout", "message": "no answer", "fields": {}}})]
    with pytest.raises(DomainError) as exc:
        interface.payment_refund(payment_id=PAYMENT_ID, amount=None, idempotency_key="r1")
    assert (exc.value.status_code, exc.value.code, exc.value.message) == (504, "processor_timeout", "no answer")
    assert not isinstance(exc.value, PaymentsUnavailable)
    assert len(server.seen) == 1


def test_validation_errors_keep_their_fields(server):
    fields = {"card_token": ["1-200 characters"]}
    server.script = [(400, {"error": {"code": "validation_error", "message": "invalid card token",
                                      "fields": fields}})]
    with pytest.raises(DomainError) as exc:
        _charge()
    assert (exc.value.status_code, exc.value.code, exc.value.fields) == (400, "validation_error", fields)


def test_an_unreadable_answer_is_a_bad_gateway(server):
    server.script = [(200, {"id": "not-a-uuid"})]
    with pytest.raises(DomainError) as exc:
        _charge()
    assert (exc.value.status_code, exc.value.code) == (502, "payments_bad_gateway")
