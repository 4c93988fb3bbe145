"""Fixtures: internal credentials the in-process service accepts, a client that calls it as the
monolith does, products with stock, and the service live on PostgreSQL (tests/live.py).

The credential fixture is the payments service's (extracted/payments/tests/conftest.py), for this
service's audience.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from monolith.catalog import interface as catalog
from monolith.kernel.money import Money
from strangler.proxy.credentials import credential_mint
from tests import live

AUDIENCE = "catalog-service"
META = "HTTP_X_INTERNAL_CREDENTIAL"


@pytest.fixture(autouse=True)
def stock_owner(settings) -> None:
    """The service's own tests run it holding the stock; deployed beside the monolith it starts on
    standby until the handover (tests/test_catalog_handover.py in the monolith's tests)."""
    settings.CATALOG_STOCK_CUSTODY = "owner"


@pytest.fixture
def mint(settings) -> Callable[..., str]:
    """``mint("monolith")``: a credential the in-process service accepts from that caller."""

    def _mint(caller: str, **kwargs) -> str:
        return credential_mint(settings.INTERNAL_AUTH_SECRET, caller, **{"audience": AUDIENCE, **kwargs})

    return _mint


@pytest.fixture
def internal(client, mint) -> Callable[..., object]:
    """``internal("post", path, body, key=...)``: a call with the monolith's credential."""

    def _call(method: str, path: str, body: object = None, *, key: str | None = None, caller: str = "monolith"):
        headers = {META: mint(caller)}
        if key is not None:
            headers["HTTP_IDEMPOTENCY_KEY"] = key
        if method == "get":
            return client.get(path, **headers)
        return client.generic(method.upper(), path, data=b"" if body is None else _json(body),
                              content_type="application/json", **headers)

    return _call


def _json(body: object) -> bytes:
    import json

    return json.dumps(body).encode()


def product_make(sku: str, on_hand: int, *, price_minor: int = 1500) -> catalog.ProductDTO:
    product = catalog.product_create(sku=sku, name=sku.title(), price=Money(price_minor, "EUR"))
    catalog.stock_set(product_id=product.id, on_hand=on_hand)
    return product


@pytest.fixture
def products(db) -> tuple[catalog.ProductDTO, catalog.ProductDTO]:
    """A mug with 5 units and a tee with 2."""
    return product_make("mug", 5), product_make("tee", 2)


@pytest.fixture(scope="session")
def live_service_pg(tmp_path_factory) -> Iterator[live.Server]:
    """The service under gunicorn on a fresh PostgreSQL database of its own (fails without one)."""
    with live.service_running(tmp_path_factory.mktemp("catalog-pg")) as server:
        yield server
