"""Who holds the catalog's stock on this side, and this side's part of a handover (README: "No
oversell, ever"). One side at a time is the ``owner``: only it takes stock steps, each of which
calls ``custody_check`` after locking its stock rows. A handover moves the stock in steps that are
each safe to repeat: the old owner fences (``custody_fence``: one transaction that takes every stock
row lock, so no step commits after it), its rows are copied (``custody_levels_import``,
``custody_reservations_import``), and the new side becomes owner only when its digest equals the
fenced side's (``custody_activate``, the commit point). ``custody_retire`` ends the old side's fence;
``custody_abandon`` then ``custody_abort`` reopen the old owner when the commit point was not reached.

``CATALOG_STOCK_CUSTODY`` (owner | standby) only seeds a database that has no custody row yet.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction

from monolith.catalog.errors import StockElsewhere
from monolith.catalog.models import Product, StockCustody, StockLevel, StockReservation
from strangler.django.errors import Conflict, ValidationFailed

OWNER, FENCED, STANDBY = StockCustody.OWNER, StockCustody.FENCED, StockCustody.STANDBY
PAGE_MAX = 1000  # reservations per page of a handover


def _initial_state() -> str:
    state = getattr(settings, "CATALOG_STOCK_CUSTODY", OWNER)
    if state not in (OWNER, STANDBY):
        raise ValueError(f"CATALOG_STOCK_CUSTODY must be 'owner' or 'standby', not {state!r}")
    return state


def custody_get() -> StockCustody:
    """This side's custody row, created from ``CATALOG_STOCK_CUSTODY`` on first use."""
    row = StockCustody.objects.filter(pk=StockCustody.SINGLETON).first()
    if row is None:
        try:
            with transaction.atomic():
                StockCustody.objects.create(state=_initial_state())
        except IntegrityError:
            pass  # another process created it first
        row = StockCustody.objects.get(pk=StockCustody.SINGLETON)
    return row


def custody_check(*, replay: bool = False) -> None:
    """Refuse a stock step unless this side owns the stock. Call it inside the step's transaction,
    after locking the stock rows: a fence holds every one of those locks when it commits, so a
    step either committed before the fence (and is in its snapshot) or reads the fence here.
    ``replay``: the step only reports what this side holds, which a fenced side still may."""
    state = custody_get().state
    if state != OWNER and not (replay and state == FENCED):
        raise StockElsewhere(f"the stock is not held here ({state}); retry: it is with its owner")


def _locked(*, epoch: int) -> StockCustody:
    if isinstance(epoch, bool) or not isinstance(epoch, int) or epoch < 1:
        raise ValidationFailed("epoch must be a positive integer", fields={"epoch": ["invalid"]})
    custody_get()
    return StockCustody.objects.select_for_update().get(pk=StockCustody.SINGLETON)


def _levels() -> list[dict[str, Any]]:
    """The stock levels that hold units (the others are zero on both sides after a handover)."""
    rows = (StockLevel.objects.exclude(on_hand=0, reserved=0).order_by("product_id")
            .values_list("product_id", "on_hand", "reserved"))
    return [{"product_id": str(pid), "on_hand": on_hand, "reserved": reserved} for pid, on_hand, reserved in rows]


def _reservation_row(reservation: StockReservation) -> dict[str, Any]:
    lines = sorted(({"product_id": str(x["product_id"]), "quantity": int(x["quantity"])} for x in reservation.lines),
                   key=lambda x: x["product_id"])
    return {"id": str(reservation.id), "order_id": str(reservation.order_id), "state": reservation.state,
            "lines": lines}


def custody_digest() -> dict[str, Any]:
    """What a handover compares: the stock levels that hold units and every reservation."""
    digest = hashlib.sha256()
    levels = _levels()
    for level in levels:
        digest.update(json.dumps(level, sort_keys=True).encode())
    count = 0
    for reservation in StockReservation.objects.order_by("order_id").iterator():
        digest.update(json.dumps(_reservation_row(reservation), sort_keys=True).encode())
        count += 1
    return {"levels": len(levels), "on_hand": sum(x["on_hand"] for x in levels),
            "reserved": sum(x["reserved"] for x in levels), "reservations": count, "sha256": digest.hexdigest()}


def custody_fence(*, epoch: int) -> dict[str, Any]:
    """Stop taking stock steps here, for handover ``epoch``; returns the levels and the digest.
    Repeating it for the same epoch returns the same (nothing changes while fenced)."""
    with transaction.atomic():
        custody = _locked(epoch=epoch)
        if custody.state == FENCED and custody.epoch != epoch:
            raise Conflict(f"fenced for handover {custody.epoch}, not {epoch}", code="custody_epoch")
        if custody.state == STANDBY:
            raise Conflict("this side does not own the stock", code="custody_not_owner")
        if custody.state == OWNER:
            if epoch <= custody.epoch:
                raise Conflict(f"handover {epoch} is not newer than {custody.epoch}", code="custody_epoch")
            # Every stock row lock, in the steps' order: the steps that hold one commit first.
            list(StockLevel.objects.select_for_update().order_by("product_id").values_list("product_id", flat=True))
            custody.state, custody.epoch = FENCED, epoch
            custody.save(update_fields=["state", "epoch", "updated_at"])
    return {"epoch": epoch, "levels": _levels(), "digest": custody_digest()}


def custody_reservations_page(*, after: uuid.UUID | None, limit: int = PAGE_MAX) -> list[dict[str, Any]]:
    """The reservations of a fenced side, by order id after ``after``."""
    if custody_get().state != FENCED:
        raise Conflict("only a fenced side hands its reservations over", code="custody_not_fenced")
    rows = StockReservation.objects.order_by("order_id")
    if after is not None:
        rows = rows.filter(order_id__gt=after)
    return [_reservation_row(r) for r in rows[:max(1, min(limit, PAGE_MAX))]]


def _receiving(*, epoch: int, custody: StockCustody | None = None) -> StockCustody:
    """The receiving side's row, locked (or ``custody``, already locked), unless it may not receive."""
    custody = custody or _locked(epoch=epoch)
    if custody.state == OWNER:
        raise Conflict("this side owns the stock: a handover never overwrites an owner", code="custody_owner")
    if epoch <= custody.epoch:
        raise Conflict(f"handover {epoch} was abandoned or is older than {custody.epoch}", code="custody_epoch")
    return custody


def custody_levels_import(*, epoch: int, levels: list[dict[str, Any]]) -> int:
    """Make this (non-owner) side's stock the fenced side's, first step: its levels (zero for the
    products it has none of, a row for each), and no reservations until its pages arrive. A side that is not the
    owner holds only stale copies; the fenced side holds every reservation that counts."""
    with transaction.atomic():
        _receiving(epoch=epoch)
        StockReservation.objects.all().delete()
        given = {uuid.UUID(str(x["product_id"])): (int(x["on_hand"]), int(x["reserved"])) for x in levels}
        missing = set(given) - set(Product.objects.filter(id__in=given).values_list("id", flat=True))
        if missing:
            raise Conflict(f"{len(missing)} stocked products are not here: backfill the products first",
                           code="custody_product_missing", fields={"levels": sorted(map(str, missing))[:20]})
        StockLevel.objects.exclude(product_id__in=given).update(on_hand=0, reserved=0)
        existing = set(StockLevel.objects.filter(product_id__in=given).values_list("product_id", flat=True))
        for product_id, (on_hand, reserved) in given.items():
            if product_id in existing:
                StockLevel.objects.filter(product_id=product_id).update(on_hand=on_hand, reserved=reserved)
            else:
                StockLevel.objects.create(product_id=product_id, on_hand=on_hand, reserved=reserved)
        # Products that came by sync or backfill have no stock row here yet: as owner, this side must
        # answer "insufficient stock" for them (as the fenced side would), not "no such product".
        unstocked = Product.objects.filter(stock__isnull=True).values_list("id", flat=True)
        StockLevel.objects.bulk_create([StockLevel(product_id=pid, on_hand=0, reserved=0) for pid in unstocked])
    return len(given)


def custody_reservations_import(*, epoch: int, reservations: list[dict[str, Any]]) -> int:
    """Upsert a page of the fenced side's reservations by order id."""
    with transaction.atomic():
        _receiving(epoch=epoch)
        for row in reservations:
            StockReservation.objects.update_or_create(
                order_id=uuid.UUID(str(row["order_id"])),
                defaults={"id": uuid.UUID(str(row["id"])), "state": row["state"], "lines": row["lines"]})
    return len(reservations)


def custody_activate(*, epoch: int, digest: dict[str, Any]) -> StockCustody:
    """The commit point: own the stock from ``epoch`` on, only if this side's rows equal ``digest``
    (the fenced side's). Repeating it after it succeeded returns the custody."""
    with transaction.atomic():
        custody = _locked(epoch=epoch)
        if custody.state == OWNER and custody.epoch == epoch:
            return custody
        _receiving(epoch=epoch, custody=custody)
        mine = custody_digest()
        if mine != digest:
            raise Conflict("the copied stock differs from the fenced side's", code="custody_digest_mismatch",
                           fields={"digest": [f"here {mine}, there {digest}"]})
        custody.state, custody.epoch, custody.imported_epoch = OWNER, epoch, epoch
        custody.save(update_fields=["state", "epoch", "imported_epoch", "updated_at"])
    return custody


def _unfence(*, epoch: int, to: str, done: Callable[[StockCustody], bool]) -> StockCustody:
    """Move this side from its fence for ``epoch`` to ``to``; nothing when ``done`` says it already was."""
    with transaction.atomic():
        custody = _locked(epoch=epoch)
        if done(custody):
            return custody
        if custody.state != FENCED or custody.epoch != epoch:
            raise Conflict(f"not fenced for handover {epoch} ({custody.state} at {custody.epoch})",
                           code="custody_epoch")
        custody.state = to
        custody.save(update_fields=["state", "updated_at"])
    return custody


def custody_retire(*, epoch: int) -> StockCustody:
    """After the commit point: the fenced side holds no stock any more (idempotent)."""
    return _unfence(epoch=epoch, to=STANDBY, done=lambda c: c.state == STANDBY and c.epoch >= epoch)


def custody_abandon(*, epoch: int) -> StockCustody:
    """On the receiving side: never become owner for ``epoch`` (before an abort reopens the old owner)."""
    with transaction.atomic():
        custody = _locked(epoch=epoch)
        if custody.state == OWNER and custody.epoch == epoch:
            raise Conflict(f"handover {epoch} reached its commit point here: hand the stock back instead",
                           code="custody_committed")
        if custody.state != OWNER:
            custody.epoch = max(custody.epoch, epoch)
            custody.save(update_fields=["epoch", "updated_at"])
    return custody


def custody_abort(*, epoch: int) -> StockCustody:
    """On the fenced side, once the receiving side abandoned ``epoch``: own the stock again."""
    return _unfence(epoch=epoch, to=OWNER, done=lambda c: c.state == OWNER and c.epoch == epoch)
