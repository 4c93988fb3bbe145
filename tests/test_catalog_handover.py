"""The catalog's stock moves between the monolith and a live catalog service (gunicorn on its own
PostgreSQL database, started on standby as a deployment beside the monolith is) by a fenced
handover (monolith/catalog/handover.py): one owner at a time, reservations move with the counters,
the saga reaches whichever side owns the stock (CATALOG_IMPL=owner), a handover cut short is
finished by running it again or undone by an abort, and reserves racing the fence never oversell."""

from __future__ import annotations

import concurrent.futures
import threading
import uuid
from collections.abc import Iterator

import pytest
from django.core.management import call_command

from monolith.catalog import custody
from monolith.catalog import interface as catalog
from monolith.catalog.handover import LocalSide, RemoteSide, stock_handover, stock_handover_abort
from monolith.catalog.remote import CatalogClient, catalog_client
from monolith.kernel.money import Money
from strangler.django.errors import Conflict
from strangler.django.remote_client import settings_client
from tests.catalog_support import Server, live, service_stock

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def standby(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with live.service_running(tmp_path_factory.mktemp("catalog-standby"), CATALOG_STOCK_CUSTODY="standby") as server:
        yield server


@pytest.fixture
def sides(settings, standby: Server, transactional_db) -> tuple[LocalSide, RemoteSide]:
    """The monolith (owner, a fresh test database) and the service; each test starts with the
    service on standby: whatever an earlier test handed it is handed back first."""
    settings.INTERNAL_AUTH_SECRET = standby.secret
    settings.CATALOG_SERVICE_URL = standby.url
    settings.CATALOG_IMPL = "owner"
    settings.CATALOG_RETRIES = 0
    monolith, service = LocalSide(), RemoteSide(client=catalog_client())
    state = service.state()
    if state["state"] == "fenced":
        service.retire(epoch=state["epoch"])
    elif state["state"] == "owner":  # an earlier test left it the owner: fence and retire it
        service.fence(epoch=state["epoch"] + 1)
        service.retire(epoch=state["epoch"] + 1)
    # This fresh monolith database starts at epoch 0: make its next handover newer than the service's.
    custody.custody_get()
    custody.StockCustody.objects.update(epoch=service.state()["epoch"])
    return monolith, service


def _products(target: Server, *on_hand: int) -> list[uuid.UUID]:
    ids = []
    for n, units in enumerate(on_hand):
        product = catalog.product_create(sku=f"ho-{uuid.uuid4().hex[:8]}-{n}", name=f"Product {n}",
                                         price=Money(900 + n, "EUR"))
        catalog.stock_set(product_id=product.id, on_hand=units)
        ids.append(product.id)
    call_command("strangler_backfill", "catalog", "--target", target.url)  # products, not stock
    return ids


def _line(product_id: uuid.UUID, quantity: int) -> list[catalog.StockLine]:
    return [catalog.StockLine(product_id=product_id, quantity=quantity)]


def test_the_stock_and_its_reservations_move_to_the_service_and_back(sides, standby) -> None:
    monolith, service = sides
    mug, pot = _products(standby, 10, 4)
    open_order, sold_order, released_order = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    catalog.stock_reserve(order_id=open_order, lines=_line(mug, 3))
    catalog.stock_reserve(order_id=sold_order, lines=_line(pot, 2))
    catalog.stock_commit(order_id=sold_order)
    catalog.stock_reserve(order_id=released_order, lines=_line(mug, 1))
    catalog.stock_release(order_id=released_order)
    lines: list[str] = []

    summary = stock_handover(source=monolith, target=service, progress=lines.append)

    assert (summary.owner, summary.levels, summary.on_hand, summary.reserved, summary.reservations) == (
        "catalog-service", 2, 12, 3, 3)
    assert any("fenced" in line for line in lines) and any("owns the stock" in line for line in lines)
    assert (monolith.state()["state"], service.state()["state"]) == ("standby", "owner")
    assert service_stock(standby, mug) == (10, 3) and service_stock(standby, pot) == (2, 0)
    # The saga's calls now reach the service, which holds the reservations that moved.
    assert catalog.stock_commit(order_id=open_order).state == "committed"
    assert catalog.stock_reserve(order_id=sold_order, lines=_line(pot, 2)).state == "committed"  # a replay
    with pytest.raises(Conflict) as released:
        catalog.stock_reserve(order_id=released_order, lines=_line(mug, 1))
    assert released.value.code == "reservation_released"
    assert catalog.stock_return(order_id=sold_order).state == "released"  # sold units back on hand
    # This side no longer takes a stock step, whoever asks.
    with pytest.raises(catalog.CatalogUnavailable) as refused:
        custody_refusal_probe(mug)
    assert refused.value.code == "stock_elsewhere" and refused.value.retry_after

    back = stock_handover(source=service, target=monolith)

    assert back.owner == "monolith" and back.epoch == summary.epoch + 1
    assert (monolith.state()["state"], service.state()["state"]) == ("owner", "standby")
    assert catalog.stock_get(product_id=mug) == catalog.StockDTO(mug, 7, 0, 7)  # 10 - 3 sold
    assert catalog.stock_get(product_id=pot) == catalog.StockDTO(pot, 4, 0, 4)  # 2 sold, then returned
    with pytest.raises(catalog.CatalogUnavailable):  # the service's stock steps answer 503 stock_elsewhere
        catalog_client().stock_reserve(order_id=uuid.uuid4(), lines=_line(mug, 1))


def custody_refusal_probe(product_id: uuid.UUID) -> None:
    """A stock step run on this process's tables whatever CATALOG_IMPL says."""
    from monolith.catalog import local

    local.stock_reserve(order_id=uuid.uuid4(), lines=_line(product_id, 1))


def test_a_handover_cut_short_after_the_fence_is_finished_by_running_it_again(sides, standby) -> None:
    monolith, service = sides
    (mug,) = _products(standby, 5)
    order = uuid.uuid4()
    catalog.stock_reserve(order_id=order, lines=_line(mug, 2))
    epoch = monolith.state()["epoch"] + 1
    fenced = monolith.fence(epoch=epoch)  # the coordinator dies right after the fence...
    service.levels_import(epoch=epoch, levels=fenced["levels"])  # ...or after the first copy
    with pytest.raises(catalog.CatalogUnavailable):  # fenced: the saga's steps wait and retry
        catalog.stock_reserve(order_id=uuid.uuid4(), lines=_line(mug, 1))
    with pytest.raises(Conflict) as early:  # the copy is incomplete: the commit point refuses it
        service.activate(epoch=epoch, digest=fenced["digest"])
    assert early.value.code == "custody_digest_mismatch"

    finished = stock_handover(source=monolith, target=service)

    assert finished.epoch == epoch and finished.reservations == 1
    assert catalog.stock_commit(order_id=order).state == "committed"
    assert service_stock(standby, mug) == (3, 0)
    again = stock_handover(source=monolith, target=service)  # the commit point passed: nothing to do
    assert again.already_done and service.state()["state"] == "owner"


def test_an_aborted_handover_reopens_the_old_owner_and_the_new_side_never_takes_it(sides, standby) -> None:
    monolith, service = sides
    (mug,) = _products(standby, 5)
    epoch = monolith.state()["epoch"] + 1
    fenced = monolith.fence(epoch=epoch)
    service.levels_import(epoch=epoch, levels=fenced["levels"])

    assert stock_handover_abort(fenced=monolith, receiving=service) == epoch

    assert monolith.state() == {"state": "owner", "epoch": epoch}
    assert catalog.stock_reserve(order_id=uuid.uuid4(), lines=_line(mug, 5)).state == "reserved"
    with pytest.raises(Conflict) as late:  # a coordinator that still thinks the handover runs
        service.activate(epoch=epoch, digest=fenced["digest"])
    assert late.value.code == "custody_epoch"
    with pytest.raises(Conflict) as owner:  # an owner's stock is never overwritten
        monolith.levels_import(epoch=epoch + 5, levels=[])
    assert owner.value.code == "custody_owner"
    assert stock_handover_abort(fenced=monolith, receiving=service) is None


def test_reserves_racing_the_handover_never_oversell_and_none_is_lost(sides, standby) -> None:
    """Shoppers reserve the last units on the service while its stock is handed to the monolith;
    the ones the fence stops are retried on the new owner. Every unit is reserved once, on one side."""
    monolith, service = sides
    (mug,) = _products(standby, 40)
    stock_handover(source=monolith, target=service)
    racing = settings_client(CatalogClient, prefix="CATALOG").get()  # the shoppers' process, not the coordinator's
    orders = [uuid.uuid4() for _ in range(60)]
    reserved_on_service: list[uuid.UUID] = []
    refused: list[uuid.UUID] = []
    start = threading.Barrier(9)

    def reserve(batch: list[uuid.UUID]) -> None:
        start.wait()
        for order in batch:
            try:
                racing.stock_reserve(order_id=order, lines=_line(mug, 1))
                reserved_on_service.append(order)
            except (catalog.CatalogUnavailable, catalog.InsufficientStock):
                refused.append(order)

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        futures = [pool.submit(reserve, orders[n::8]) for n in range(8)]
        start.wait()
        moved = stock_handover(source=service, target=monolith)
        for future in futures:
            future.result()

    # The ones refused during the fence (or for want of stock) retry on the owner, as the saga would.
    reserved_after = []
    for order in refused:
        try:
            catalog.stock_reserve(order_id=order, lines=_line(mug, 1))
            reserved_after.append(order)
        except catalog.InsufficientStock:
            pass
    stock = catalog.stock_get(product_id=mug)
    print(f"reserved on the service {len(reserved_on_service)}, refused {len(refused)}, "
          f"then reserved on the monolith {len(reserved_after)}; fenced {moved.fenced_seconds:.3f} s")
    assert moved.owner == "monolith"
    assert stock.on_hand == 40 and stock.reserved == len(reserved_on_service) + len(reserved_after) == 40
    held = set(custody.StockReservation.objects.filter(order_id__in=orders).values_list("order_id", flat=True))
    assert set(reserved_on_service) | set(reserved_after) == held  # every success is held by the owner
    assert service.state()["state"] == "standby"


def test_the_command_hands_the_stock_over_and_back_and_says_where_it_is(sides, standby, settings, capsys) -> None:
    settings.CATALOG_SERVICE_URL = "http://127.0.0.1:9"  # --target wins: the cutover passes the service's URL
    (mug,) = _products(standby, 3)
    capsys.readouterr()
    call_command("catalog_stock_handover", "--to", "service", "--target", standby.url)
    out = capsys.readouterr().out
    assert "catalog-service owns the stock" in out and "1 stocked products, 3 on hand" in out, out
    call_command("catalog_stock_handover", "--status", "--target", standby.url)
    assert capsys.readouterr().out.splitlines()[:2] == [
        f"monolith: standby (handover {custody.custody_get().epoch})",
        f"catalog-service: owner (handover {custody.custody_get().epoch})"]
    call_command("catalog_stock_handover", "--abort", "--target", standby.url)
    assert "nothing to abort" in capsys.readouterr().out
    call_command("catalog_stock_handover", "--to", "monolith", "--target", standby.url)
    assert "monolith owns the stock" in capsys.readouterr().out
    assert catalog.stock_get(product_id=mug).on_hand == 3


def test_a_sold_out_product_is_out_of_stock_on_the_new_owner_not_unknown(sides, standby) -> None:
    """Found by the catalog acceptance run: a product with no units has no level to copy, and the
    service had its product (from the backfill) but no stock row, so a reserve said 'no such product'."""
    monolith, service = sides
    (sold_out,) = _products(standby, 0)
    stock_handover(source=monolith, target=service)
    with pytest.raises(catalog.InsufficientStock):
        catalog.stock_reserve(order_id=uuid.uuid4(), lines=_line(sold_out, 1))
    assert service_stock(standby, sold_out) == (0, 0)
