"""Writes of the catalog: products, stock levels and per-order reservations.

Every product write bumps ``revision`` (on a change) and records a ``ProductSynced`` snapshot in its
own transaction, which keeps the other store's products up to date while both may write them
(sync.py). Stock writes publish nothing: stock is not synced, it moves with its owner.

Stock rows are locked with select_for_update in product-id order, so two concurrent reservations
on PostgreSQL wait for each other (never oversell) and cannot deadlock. Every stock step then asks
``custody_check`` whether this side holds the stock (custody.py), so a handover's fence stops them.
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Sequence

from django.db import IntegrityError, transaction

from monolith.catalog.custody import custody_check
from monolith.catalog.errors import InsufficientStock, ProductNotFound
from monolith.catalog.models import Product, StockLevel, StockReservation
from monolith.catalog.sync import product_synced_publish
from monolith.kernel.money import Money
from strangler.django.errors import Conflict, ValidationFailed

SKU_MAX = 64
NAME_MAX = 200


@dataclasses.dataclass(frozen=True, slots=True)
class StockLine:
    product_id: uuid.UUID
    quantity: int


def _name_check(name: str) -> str:
    name = name.strip()
    if not name or len(name) > NAME_MAX:
        raise ValidationFailed("invalid name", fields={"name": [f"1-{NAME_MAX} characters"]})
    return name


def _price_check(price: Money) -> None:
    if price.amount_minor <= 0:  # a checkout always charges; a free product would have nothing to charge
        raise ValidationFailed("price must be positive", fields={"price_minor": ["must be > 0"]})


def product_create(*, sku: str, name: str, price: Money, description: str = "", active: bool = True) -> Product:
    sku, name = sku.strip(), _name_check(name)
    if not sku or len(sku) > SKU_MAX:
        raise ValidationFailed("invalid sku", fields={"sku": [f"1-{SKU_MAX} characters"]})
    _price_check(price)
    try:
        with transaction.atomic():
            product = Product.objects.create(
                sku=sku, name=name, description=description, price_minor=price.amount_minor,
                currency=price.currency, active=active,
            )
            StockLevel.objects.create(product=product, on_hand=0, reserved=0)
            product_synced_publish(product=product)
    except IntegrityError as exc:
        raise Conflict(f"sku {sku} already exists", code="sku_exists", fields={"sku": ["already exists"]}) from exc
    return product


def product_update(*, product_id: uuid.UUID, name: str | None = None, description: str | None = None,
                   price: Money | None = None, active: bool | None = None) -> Product:
    """Change what is given (the sku is the product's key for people and stays). A change bumps the
    revision and publishes the snapshot; giving what the product already holds writes nothing."""
    changes: dict[str, object] = {}
    if name is not None:
        changes["name"] = _name_check(name)
    if description is not None:
        changes["description"] = description
    if price is not None:
        _price_check(price)
        changes |= {"price_minor": price.amount_minor, "currency": price.currency}
    if active is not None:
        changes["active"] = bool(active)
    with transaction.atomic():
        product = Product.objects.select_for_update().filter(pk=product_id).first()
        if product is None:
            raise ProductNotFound(f"no product {product_id}")
        changed = [field for field, value in changes.items() if getattr(product, field) != value]
        if not changed:
            return product
        for field in changed:
            setattr(product, field, changes[field])
        product.revision += 1
        product.save(update_fields=[*changed, "revision"])
        product_synced_publish(product=product)
    return product


def stock_set(*, product_id: uuid.UUID, on_hand: int) -> StockLevel:
    if isinstance(on_hand, bool) or not isinstance(on_hand, int) or on_hand < 0:
        raise ValidationFailed("on_hand must be a non-negative integer", fields={"on_hand": ["invalid"]})
    with transaction.atomic():
        if not Product.objects.filter(pk=product_id).exists():
            raise ProductNotFound(f"no product {product_id}")
        stock, _ = StockLevel.objects.select_for_update().get_or_create(product_id=product_id)
        custody_check()
        if on_hand < stock.reserved:
            raise Conflict(f"{stock.reserved} units are reserved; on_hand cannot go below that",
                           code="stock_below_reserved")
        stock.on_hand = on_hand
        stock.save(update_fields=["on_hand"])
    return stock


def _merge(lines: Sequence[StockLine]) -> dict[uuid.UUID, int]:
    if not lines:
        raise ValidationFailed("a reservation needs at least one line", fields={"lines": ["empty"]})
    merged: dict[uuid.UUID, int] = {}
    for line in lines:
        if isinstance(line.quantity, bool) or not isinstance(line.quantity, int) or line.quantity <= 0:
            raise ValidationFailed("quantities must be positive integers", fields={"lines": ["bad quantity"]})
        merged[line.product_id] = merged.get(line.product_id, 0) + line.quantity
    return merged


def _locked_levels(product_ids: list[uuid.UUID]) -> dict[uuid.UUID, StockLevel]:
    """The stock rows, locked, once this side is known to hold them (after the locks: see custody.py)."""
    rows = StockLevel.objects.select_for_update().select_related("product").filter(product_id__in=product_ids)
    levels = {s.product_id: s for s in rows.order_by("product_id")}
    custody_check()
    return levels


def _replayed(reservation: StockReservation | None) -> StockReservation | None:
    """An answer from what this side holds, without a write: a fenced side still holds it all."""
    custody_check(replay=True)
    return reservation


def stock_reserve(*, order_id: uuid.UUID, lines: Sequence[StockLine]) -> StockReservation:
    """Reserve every line or none. Calling again for the same order returns the first reservation."""
    wanted = _merge(lines)
    try:
        with transaction.atomic():
            existing = StockReservation.objects.select_for_update().filter(order_id=order_id).first()
            if existing is not None:
                return _reservation_replay(_replayed(existing))
            product_ids = sorted(wanted, key=str)
            levels = _locked_levels(product_ids)
            for product_id in product_ids:
                level = levels.get(product_id)
                if level is None:
                    raise ProductNotFound(f"no stock for product {product_id}",
                                          fields={"lines": [f"unknown product {product_id}"]})
                if level.available < wanted[product_id]:
                    raise InsufficientStock(product_id=product_id, sku=level.product.sku,
                                            requested=wanted[product_id], available=level.available)
            for product_id in product_ids:
                level = levels[product_id]
                level.reserved += wanted[product_id]
                level.save(update_fields=["reserved"])
            return StockReservation.objects.create(
                order_id=order_id,
                lines=[{"product_id": str(pid), "quantity": wanted[pid]} for pid in product_ids],
            )
    except IntegrityError:
        # A concurrent call for the same order won the unique order_id; ours rolled back whole.
        existing = StockReservation.objects.filter(order_id=order_id).first()
        if existing is None:
            raise
        return _reservation_replay(existing)


def _reservation_replay(reservation: StockReservation) -> StockReservation:
    if reservation.state == StockReservation.RELEASED:
        raise Conflict(f"the reservation of order {reservation.order_id} was released",
                       code="reservation_released")
    return reservation


def _apply(reservation: StockReservation, *, on_hand_sign: int) -> None:
    quantities = {uuid.UUID(line["product_id"]): line["quantity"] for line in reservation.lines}
    levels = _locked_levels(sorted(quantities, key=str))
    for product_id, quantity in quantities.items():
        level = levels[product_id]
        level.reserved -= quantity
        level.on_hand += on_hand_sign * quantity
        level.save(update_fields=["reserved", "on_hand"])


def stock_release(*, order_id: uuid.UUID) -> StockReservation | None:
    """Give reserved units back. Idempotent; None when the order never reserved anything."""
    with transaction.atomic():
        reservation = StockReservation.objects.select_for_update().filter(order_id=order_id).first()
        if reservation is None or reservation.state == StockReservation.RELEASED:
            return _replayed(reservation)
        if reservation.state == StockReservation.COMMITTED:
            _replayed(reservation)
            raise Conflict(f"the stock of order {order_id} is already committed", code="reservation_committed")
        _apply(reservation, on_hand_sign=0)
        reservation.state = StockReservation.RELEASED
        reservation.save(update_fields=["state", "updated_at"])
    return reservation


def stock_return(*, order_id: uuid.UUID) -> StockReservation | None:
    """Give an order's stock back whatever became of it: reserved units are released, sold
    (committed) units go back on hand. Idempotent; None when the order never reserved anything."""
    with transaction.atomic():
        reservation = StockReservation.objects.select_for_update().filter(order_id=order_id).first()
        if reservation is None or reservation.state == StockReservation.RELEASED:
            return _replayed(reservation)
        if reservation.state == StockReservation.COMMITTED:
            quantities = {uuid.UUID(line["product_id"]): line["quantity"] for line in reservation.lines}
            levels = _locked_levels(sorted(quantities, key=str))
            for product_id, quantity in quantities.items():
                levels[product_id].on_hand += quantity
                levels[product_id].save(update_fields=["on_hand"])
        else:
            _apply(reservation, on_hand_sign=0)
        reservation.state = StockReservation.RELEASED
        reservation.save(update_fields=["state", "updated_at"])
    return reservation


def stock_commit(*, order_id: uuid.UUID) -> StockReservation:
    """Turn the reservation into a sale: the units leave on_hand. Idempotent."""
    with transaction.atomic():
        reservation = _replayed(StockReservation.objects.select_for_update().filter(order_id=order_id).first())
        if reservation is None:
            raise Conflict(f"order {order_id} holds no reservation", code="reservation_missing")
        if reservation.state == StockReservation.COMMITTED:
            return reservation
        if reservation.state == StockReservation.RELEASED:
            raise Conflict(f"the reservation of order {order_id} was released", code="reservation_released")
        _apply(reservation, on_hand_sign=-1)
        reservation.state = StockReservation.COMMITTED
        reservation.save(update_fields=["state", "updated_at"])
    return reservation
