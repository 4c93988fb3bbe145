"""The extracted catalog service as a live process for the monolith's tests (the service's own
helper, extracted/catalog/tests/live.py, loaded by path: the service is not a package here), and the
fixtures that point the monolith at it."""

from __future__ import annotations

import importlib.util
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("catalog_live", ROOT / "extracted" / "catalog" / "tests" / "live.py")
live = sys.modules.setdefault("catalog_live", importlib.util.module_from_spec(_spec))
_spec.loader.exec_module(live)
Server = live.Server


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A catalog service on a fresh PostgreSQL database for the module's tests."""
    with live.service_running(tmp_path_factory.mktemp("catalog")) as server:
        yield server


@pytest.fixture
def trusted(settings, service: Server) -> Server:
    """The monolith's credentials are the service's: same root secret."""
    settings.INTERNAL_AUTH_SECRET = service.secret
    return service


def service_product(service: Server, on_hand: int) -> uuid.UUID:
    """A product that exists on the service only (created through its own interface, in its process)."""
    sku = f"mug-{uuid.uuid4().hex[:8]}"
    code = ("import json; from monolith.catalog import interface as c; from monolith.kernel.money import Money; "
            f"p = c.product_create(sku={sku!r}, name='Mug', price=Money(1250, 'EUR')); "
            f"c.stock_set(product_id=p.id, on_hand={on_hand}); print(json.dumps(str(p.id)))")
    return uuid.UUID(str(service.python(code)))


def service_stock(service: Server, product_id: uuid.UUID) -> tuple[int, int]:
    """(on_hand, reserved) as the service's own database has them."""
    code = ("import json; from monolith.catalog import interface as c; "
            f"s = c.stock_get(product_id={str(product_id)!r}); print(json.dumps([s.on_hand, s.reserved]))")
    on_hand, reserved = service.python(code)  # type: ignore[misc]
    return on_hand, reserved
