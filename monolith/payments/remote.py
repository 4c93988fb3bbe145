"""HTTP client of the extracted payments service's internal API (extracted/payments/README.md).

Built on the kit's remote-client base (strangler.django.remote_client: pooled session, timeouts,
retries resending the same idempotency key, circuit breaker); this module adds the payments calls,
their DTOs and the settings the process's client is built from: ``PAYMENTS_SERVICE_URL``,
``PAYMENTS_CONNECT_TIMEOUT``, ``PAYMENTS_READ_TIMEOUT``, ``PAYMENTS_RETRIES``,
``PAYMENTS_BREAKER_FAILURES`` and ``PAYMENTS_BREAKER_RESET``; its credential is that of
``INTERNAL_AUTH_CALLER`` for ``PAYMENTS_SERVICE_AUDIENCE``.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from monolith.kernel.money import Money
from monolith.payments.dtos import PaymentDTO, RefundDTO
from strangler.django.remote_client import LockedBreaker, RemoteClient, ServiceUnavailable, settings_client

__all__ = ["LockedBreaker", "PaymentsClient", "PaymentsUnavailable", "payments_client", "payments_client_reset"]

BAD_GATEWAY = "payments_bad_gateway"


class PaymentsUnavailable(ServiceUnavailable):
    """The payments service could not be reached: breaker open or retries exhausted."""

    code = "payments_unavailable"


class PaymentsClient(RemoteClient):
    """The internal payments API as typed calls. Thread-safe; share one per process."""

    service = "payments"
    unavailable = PaymentsUnavailable
    bad_gateway_code = BAD_GATEWAY

    # -- the internal API ----------------------------------------------------------------------
    def payment_charge(self, *, order_id: uuid.UUID, user_id: uuid.UUID, amount: Money, card_token: str,
                       idempotency_key: str) -> PaymentDTO:
        """Charge once per ``idempotency_key``.

        A charge whose request may have reached the service but whose answer was lost (read
        timeout, dropped connection, 502 from a proxy) is retried. That is safe only because
        every retry, and every later call by a resumed saga, sends the same domain key: the
        service answers with the first payment instead of charging again.
        """
        body = {"order_id": str(order_id), "user_id": str(user_id), "amount_minor": amount.amount_minor,
                "currency": amount.currency, "card_token": card_token}
        data = self._call("POST", "/internal/v1/payments/charges/", json=body, idempotency_key=idempotency_key)
        return self._parsed(_payment, data)

    def payment_get(self, *, payment_id: uuid.UUID) -> PaymentDTO:
        return self._parsed(_payment, self._call("GET", f"/internal/v1/payments/{payment_id}/"))

    def payments_list_by_order(self, *, order_id: uuid.UUID) -> list[PaymentDTO]:
        data = self._call("GET", "/internal/v1/payments/", params={"order_id": str(order_id)})
        return self._parsed(lambda rows: [_payment(row) for row in rows], data)

    def payment_refund(self, *, payment_id: uuid.UUID, amount: Money | None, idempotency_key: str) -> RefundDTO:
        """Like charges, retried with the same key, so a lost answer never refunds twice."""
        body = {} if amount is None else {"amount_minor": amount.amount_minor, "currency": amount.currency}
        data = self._call("POST", f"/internal/v1/payments/{payment_id}/refunds/", json=body,
                          idempotency_key=idempotency_key)
        return self._parsed(_refund, data)


def _int(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"not an integer: {value!r}")
    return value


def _datetime(value: Any) -> dt.datetime:
    parsed = dt.datetime.fromisoformat(value)
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=dt.UTC)


def _payment(row: dict[str, Any]) -> PaymentDTO:
    return PaymentDTO(
        id=uuid.UUID(row["id"]), order_id=uuid.UUID(row["order_id"]), user_id=uuid.UUID(row["user_id"]),
        amount_minor=_int(row["amount_minor"]), currency=str(row["currency"]), status=str(row["status"]),
        failure_reason=str(row.get("failure_reason") or ""), processor_ref=str(row.get("processor_ref") or ""),
        captured_minor=_int(row["captured_minor"]), refunded_minor=_int(row["refunded_minor"]),
        created_at=_datetime(row["created_at"]),
    )


def _refund(row: dict[str, Any]) -> RefundDTO:
    return RefundDTO(
        id=uuid.UUID(row["id"]), payment_id=uuid.UUID(row["payment_id"]), amount_minor=_int(row["amount_minor"]),
        currency=str(row["currency"]), refunded_total_minor=_int(row["refunded_total_minor"]),
        created_at=_datetime(row["created_at"]),
    )



# -- the process's client ------------------------------------------------------------------------
# Built at first use from the PAYMENTS_* settings; changing one of them (tests, reconfiguration) drops it.
_process_client = settings_client(PaymentsClient, prefix="PAYMENTS")


def payments_client() -> PaymentsClient:
    """This process's client, built from settings at first use (a forked child builds its own)."""
    return _process_client.get()


def payments_client_reset() -> None:
    """Forget the built client (its pool and breaker); the next call builds one from settings."""
    _process_client.reset()
