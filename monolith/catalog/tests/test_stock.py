import threading
import uuid

import pytest
from django.db import connection

from monolith.catalog import interface as catalog
from monolith.catalog.models import StockLevel, StockReservation
from monolith.kernel.money import Money
from strangler.django.errors import Conflict, ValidationFailed


def _product(sku: str, on_hand: int, price: int = 1000) -> catalog.ProductDTO:
    product = catalog.product_create(sku=sku, name=sku.title(), price=Money(price, "EUR"))
    catalog.stock_set(product_id=product.id, on_hand=on_hand)
    return product


def _levels() -> dict:
    return {s.product_id: (s.on_hand, s.reserved) for s in StockLevel.objects.all()}


@pytest.fixture
def two_products(db):
    return _product("mug", 5), _product("tee", 2)


def test_reserve_takes_every_line(two_products):
    mug, tee = two_products
    order_id = uuid.uuid4()
    reservation = catalog.stock_reserve(order_id=order_id, lines=[catalog.StockLine(product_id=mug.id, quantity=3),
                                                                   catalog.StockLine(product_id=tee.id, quantity=2)])
    assert reservation.state == "reserved"
    assert _levels() == {mug.id: (5, 3), tee.id: (2, 2)}
    assert catalog.product_get(product_id=mug.id).available == 2


def test_reserve_is_all_or_nothing_and_names_the_short_product(two_products):
    mug, tee = two_products
    before = _levels()
    with pytest.raises(catalog.InsufficientStock) as exc:
        catalog.stock_reserve(order_id=uuid.uuid4(), lines=[catalog.StockLine(product_id=mug.id, quantity=1),
                                                           catalog.StockLine(product_id=tee.id, quantity=3)])
    assert exc.value.code == "insufficient_stock"
    assert exc.value.status_code == 409
    assert exc.value.product_id == tee.id
    assert "tee" in exc.value.message
    assert _levels() == before
    assert StockReservation.objects.count() == 0


def test_reserve_is_idempotent_per_order(two_products):
    mug, _ = two_products
    order_id = uuid.uuid4()
    first = catalog.stock_reserve(order_id=order_id, lines=[catalog.StockLine(product_id=mug.id, quantity=2)])
    again = catalog.stock_reserve(order_id=order_id, lines=[catalog.StockLine(product_id=mug.id, quantity=2)])
    assert again.id == first.id
    assert _levels()[mug.id] == (5, 2)
    assert StockReservation.objects.count() == 1


def test_no_oversell_between_orders(two_products):
    mug, _ = two_products
    catalog.stock_reserve(order_id=uuid.uuid4(), lines=[catalog.StockLine(product_id=mug.id, quantity=3)])
    with pytest.raises(catalog.InsufficientStock):
        catalog.stock_reserve(order_id=uuid.uuid4(), lines=[catalog.StockLine(product_id=mug.id, quantity=3)])
    assert _levels()[mug.id] == (5, 3)


def test_release_is_idempotent(two_products):
    mug, _ = two_products
    order_id = uuid.uuid4()
    catalog.stock_reserve(order_id=order_id, lines=[catalog.StockLine(product_id=mug.id, quantity=4)])
    assert catalog.stock_release(order_id=order_id).state == "released"
    assert catalog.stock_release(order_id=order_id).state == "released"
    assert _levels()[mug.id] == (5, 0)
    assert catalog.stock_release(order_id=uuid.uuid4()) is None


def test_a_released_reservation_is_not_silently_reserved_again(two_products):
    mug, _ = two_products
    order_id = uuid.uuid4()
    catalog.stock_reserve(order_id=order_id, lines=[catalog.StockLine(product_id=mug.id, quantity=1)])
    catalog.stock_release(order_id=order_id)
    with pytest.raises(Conflict) as exc:
        catalog.stock_reserve(order_id=order_id, lines=[catalog.StockLine(product_id=mug.id, quantity=1)])
    assert exc.value.code == "reservation_released"
    assert _levels()[mug.id] == (5, 0)


def test_commit_takes_units_out_once_and_cannot_be_released(two_products):
    mug, _ = two_products
    order_id = uuid.uuid4()
    catalog.stock_reserve(order_id=order_id, lines=[catalog.StockLine(product_id=mug.id, quantity=2)])
    catalog.stock_commit(order_id=order_id)
    catalog.stock_commit(order_id=order_id)
    assert _levels()[mug.id] == (3, 0)
    with pytest.raises(Conflict):
        catalog.stock_release(order_id=order_id)


def test_stock_cannot_be_set_below_reserved(two_products):
    mug, _ = two_products
    catalog.stock_reserve(order_id=uuid.uuid4(), lines=[catalog.StockLine(product_id=mug.id, quantity=4)])
    with pytest.raises(Conflict):
        catalog.stock_set(product_id=mug.id, on_hand=3)
    assert catalog.stock_set(product_id=mug.id, on_hand=10).available == 6


def test_duplicate_sku_is_a_conflict(two_products):
    with pytest.raises(Conflict) as exc:
        catalog.product_create(sku="mug", name="Other", price=Money(1, "EUR"))
    assert exc.value.code == "sku_exists"


@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(connection.vendor != "postgresql", reason="row locks across threads need PostgreSQL")
def test_concurrent_reservations_never_oversell():
    product = _product("lamp", 5)
    results: list[str] = []
    barrier = threading.Barrier(10)

    def reserve() -> None:
        barrier.wait()
        try:
            catalog.stock_reserve(order_id=uuid.uuid4(), lines=[catalog.StockLine(product_id=product.id, quantity=1)])
            results.append("ok")
        except catalog.InsufficientStock:
            results.append("short")
        finally:
            connection.close()

    threads = [threading.Thread(target=reserve) for _ in range(10)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results.count("ok") == 5
    assert results.count("short") == 5
    assert _levels()[product.id] == (5, 5)


@pytest.mark.parametrize(("sku", "name", "price"), [("", "Name", 1), ("x" * 65, "Name", 1), ("sku", "", 1),
                                                    ("sku", "Name", 0)])
def test_product_create_validates(db, sku, name, price):
    with pytest.raises(ValidationFailed):
        catalog.product_create(sku=sku, name=name, price=Money(price, "EUR"))
    assert not StockLevel.objects.exists()
