"""HTTP client of the catalog service's internal API (/internal/v1/catalog/, extracted/catalog).

Built on the kit's remote-client base (strangler.django.remote_client: pooled session, timeouts,
retries resending the same Idempotency-Key, circuit breaker). Each stock step's key comes from the
order and the step, so a retry, or a resumed saga calling again, is answered with the first outcome
instead of reserving twice. The service's refusals come back as the catalog's own exceptions
(InsufficientStock, ProductNotFound), so the saga handles them as it does locally.

Settings: ``CATALOG_SERVICE_URL``, ``CATALOG_SERVICE_AUDIENCE``, ``CATALOG_CONNECT_TIMEOUT``,
``CATALOG_READ_TIMEOUT``, ``CATALOG_RETRIES``, ``CATALOG_BREAKER_FAILURES``, ``CATALOG_BREAKER_RESET``.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from monolith.catalog.dtos import ProductDTO, ReservationDTO, StockDTO, StockLine
from monolith.catalog.errors import CatalogUnavailable, InsufficientStock, ProductNotFound, StockElsewhere
from strangler.django.errors import DomainError
from strangler.django.remote_client import RemoteClient, settings_client

__all__ = ["CatalogClient", "CatalogUnavailable", "catalog_client", "catalog_client_reset"]

BASE = "/internal/v1/catalog"
STATE_NONE = "none"  # a release or return of an order that reserved nothing
MAX_IDS = 100  # products per read: the service's own limit


class CatalogClient(RemoteClient):
    """The internal catalog API as the interface's typed calls. Thread-safe; share one per process."""

    service = "catalog"
    unavailable = CatalogUnavailable
    bad_gateway_code = "catalog_bad_gateway"
    busy_codes = frozenset({StockElsewhere.code})  # a handover's fence: not a failure of the service

    # -- reads -----------------------------------------------------------------------------------
    def product_get(self, *, product_id: uuid.UUID) -> ProductDTO:
        return self._parsed(_product, self._catalog_call("GET", f"{BASE}/products/{product_id}/"))

    def products_get_many(self, *, product_ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, ProductDTO]:
        ids = list(dict.fromkeys(product_ids))
        found: dict[uuid.UUID, ProductDTO] = {}
        for start in range(0, len(ids), MAX_IDS):
            chunk = ",".join(str(pid) for pid in ids[start:start + MAX_IDS])
            rows = self._catalog_call("GET", f"{BASE}/products/", params={"ids": chunk})
            found |= self._parsed(lambda data: {p.id: p for p in map(_product, data)}, rows)
        return found

    def stock_get(self, *, product_id: uuid.UUID) -> StockDTO:
        data = self._catalog_call("GET", f"{BASE}/products/{product_id}/stock/")
        return self._parsed(lambda d: StockDTO(product_id=product_id, on_hand=_int(d["on_hand"]),
                                               reserved=_int(d["reserved"]), available=_int(d["available"])), data)

    # -- the saga's stock steps, once per order and step -------------------------------------------
    def stock_reserve(self, *, order_id: uuid.UUID, lines: Sequence[StockLine]) -> ReservationDTO:
        body = {"order_id": str(order_id),
                "lines": [{"product_id": str(line.product_id), "quantity": line.quantity} for line in lines]}
        data = self._catalog_call("POST", f"{BASE}/reservations/", json=body,
                                  idempotency_key=_key("reserve", order_id))
        return self._parsed(_reservation, data)

    def stock_commit(self, *, order_id: uuid.UUID) -> ReservationDTO:
        return self._step("commit", order_id)

    def stock_release(self, *, order_id: uuid.UUID) -> ReservationDTO | None:
        return self._step("release", order_id, none_allowed=True)

    def stock_return(self, *, order_id: uuid.UUID) -> ReservationDTO | None:
        return self._step("return", order_id, none_allowed=True)

    def _step(self, step: str, order_id: uuid.UUID, *, none_allowed: bool = False) -> Any:
        data = self._catalog_call("POST", f"{BASE}/reservations/{order_id}/{step}/", json={},
                                  idempotency_key=_key(step, order_id))
        if none_allowed and isinstance(data, dict) and data.get("state") == STATE_NONE:
            return None
        return self._parsed(_reservation, data)

    # -- the stock handover's steps on the service's side (custody_apis.py) -------------------------
    def custody_call(self, method: str, step: str, *, json: Any = None, params: dict[str, str] | None = None) -> Any:
        """``step`` is "" (the state), "fence", "levels", "reservations", "activate", "retire", "abandon"
        or "abort"; each is safe to repeat, so the base's retries are too."""
        return self._call(method, f"{BASE}/custody/{step + '/' if step else ''}", json=json, params=params)

    def _catalog_call(self, method: str, path: str, **kwargs: Any) -> Any:
        """``_call``, with the service's refusals raised as the catalog's own exceptions."""
        try:
            return self._call(method, path, **kwargs)
        except DomainError as exc:
            raise _catalog_error(exc) from None


def _key(step: str, order_id: uuid.UUID) -> str:
    return f"catalog-stock-{step}:{order_id}"


def _catalog_error(exc: DomainError) -> DomainError:
    if exc.code == InsufficientStock.code:
        return InsufficientStock.answered(exc.message, fields=exc.fields)
    if exc.code == ProductNotFound.code:
        return ProductNotFound(exc.message)
    return exc


def _int(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"not an integer: {value!r}")
    return value


def _product(row: dict[str, Any]) -> ProductDTO:
    return ProductDTO(id=uuid.UUID(row["id"]), sku=str(row["sku"]), name=str(row["name"]),
                      price_minor=_int(row["price_minor"]), currency=str(row["currency"]),
                      active=bool(row["active"]), available=_int(row["available"]))


def _reservation(row: dict[str, Any]) -> ReservationDTO:
    lines = tuple(StockLine(product_id=uuid.UUID(x["product_id"]), quantity=_int(x["quantity"]))
                  for x in row["lines"])
    return ReservationDTO(id=uuid.UUID(row["id"]), order_id=uuid.UUID(row["order_id"]), state=str(row["state"]),
                          lines=lines)


# -- the process's client ------------------------------------------------------------------------
# Built at first use from the CATALOG_* settings; changing one of them (tests, reconfiguration) drops it.
_process_client = settings_client(CatalogClient, prefix="CATALOG")
catalog_client: Callable[[], CatalogClient] = _process_client.get
catalog_client_reset: Callable[[], None] = _process_client.reset
