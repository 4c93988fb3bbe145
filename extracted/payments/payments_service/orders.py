"""Whose order a public charge is for, asked of the monolith, which owns orders: this service's
``PAYMENTS_ORDER_OWNED`` (monolith.payments.ownership).

Contract: ``GET {MONOLITH_URL}/internal/v1/orders/<order_id>/owner/`` with this service's internal
credential answers 200 ``{"id": "<uuid>", "user_id": "<uuid>"}`` or 404 ``order_not_found``. No
answer (refused, timed out, 5xx, breaker open) is a 503 ``orders_unavailable`` with Retry-After for
the client: a charge is never taken for an order whose owner cannot be told. Built on the kit's
remote-client base (strangler.django.remote_client: pooled session, timeouts, retries, breaker);
the call is a read, so its retries are safe. Settings: ``MONOLITH_URL``, ``ORDERS_CONNECT_TIMEOUT``,
``ORDERS_READ_TIMEOUT``, ``ORDERS_RETRIES``.
"""

from __future__ import annotations

import uuid
from typing import Any

from payments_service.identity import MONOLITH_AUDIENCE
from strangler.django.errors import NotFound
from strangler.django.remote_client import RemoteClient, ServiceUnavailable, settings_client

OWNER_PATH = "/internal/v1/orders/{order_id}/owner/"


class OrdersUnavailable(ServiceUnavailable):
    """The monolith could not say whose order it is."""

    code = "orders_unavailable"


class MonolithOrdersClient(RemoteClient):
    service = "monolith orders"
    unavailable = OrdersUnavailable
    bad_gateway_code = "orders_bad_gateway"

    def order_owner(self, *, order_id: uuid.UUID) -> uuid.UUID | None:
        """The user who owns ``order_id``; None when the monolith has no such order."""
        try:
            data = self._call("GET", OWNER_PATH.format(order_id=order_id))
        except NotFound:
            return None
        return self._parsed(lambda answer: _owner(answer, order_id), data)


def _owner(answer: Any, order_id: uuid.UUID) -> uuid.UUID:
    if uuid.UUID(answer["id"]) != order_id:
        raise ValueError(f"asked about order {order_id}, answered about {answer['id']}")
    return uuid.UUID(answer["user_id"])


# The monolith's URL and the ORDERS_* timeouts and retries, for the monolith's audience.
_process_client = settings_client(MonolithOrdersClient, prefix="ORDERS", url="MONOLITH_URL", audience=MONOLITH_AUDIENCE)


def order_owned(*, order_id: uuid.UUID, user_id: uuid.UUID) -> bool:
    """Whether ``order_id`` exists and belongs to ``user_id`` (PAYMENTS_ORDER_OWNED)."""
    return _process_client.get().order_owner(order_id=order_id) == user_id
