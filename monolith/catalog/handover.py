"""The stock handover between the monolith and the catalog service, driven from the monolith
(``manage.py catalog_stock_handover``): fence the owner, copy its levels and reservations to the
other side, make that side the owner once its digest equals the fenced one (the commit point),
then retire the old owner's fence. Each side is a ``CustodySide``: this process's tables or the
service's custody API. Every step is safe to repeat, so a handover cut short is finished by running
it again, or undone with ``stock_handover_abort`` while the commit point is not reached. No network
call happens inside a database transaction: each step is one transaction on its own side.
"""

from __future__ import annotations

import dataclasses
import time
import uuid
from collections.abc import Callable
from typing import Any, Protocol

from monolith.catalog import custody
from monolith.catalog.remote import CatalogClient
from strangler.django.errors import Conflict

OWNER, FENCED, STANDBY = custody.OWNER, custody.FENCED, custody.STANDBY


class CustodySide(Protocol):
    name: str

    def state(self) -> dict[str, Any]: ...
    def fence(self, *, epoch: int) -> dict[str, Any]: ...
    def reservations_page(self, *, after: str | None) -> list[dict[str, Any]]: ...
    def levels_import(self, *, epoch: int, levels: list[dict[str, Any]]) -> None: ...
    def reservations_import(self, *, epoch: int, reservations: list[dict[str, Any]]) -> None: ...
    def activate(self, *, epoch: int, digest: dict[str, Any]) -> None: ...
    def retire(self, *, epoch: int) -> None: ...
    def abandon(self, *, epoch: int) -> None: ...
    def abort(self, *, epoch: int) -> None: ...


def _state(row: Any) -> dict[str, Any]:
    return {"state": row.state, "epoch": row.epoch}


class LocalSide:
    """This process's database."""

    name = "monolith"

    def state(self) -> dict[str, Any]:
        return _state(custody.custody_get())

    def fence(self, *, epoch: int) -> dict[str, Any]:
        return custody.custody_fence(epoch=epoch)

    def reservations_page(self, *, after: str | None) -> list[dict[str, Any]]:
        return custody.custody_reservations_page(after=uuid.UUID(after) if after else None)

    def levels_import(self, *, epoch: int, levels: list[dict[str, Any]]) -> None:
        custody.custody_levels_import(epoch=epoch, levels=levels)

    def reservations_import(self, *, epoch: int, reservations: list[dict[str, Any]]) -> None:
        custody.custody_reservations_import(epoch=epoch, reservations=reservations)

    def activate(self, *, epoch: int, digest: dict[str, Any]) -> None:
        custody.custody_activate(epoch=epoch, digest=digest)

    def retire(self, *, epoch: int) -> None:
        custody.custody_retire(epoch=epoch)

    def abandon(self, *, epoch: int) -> None:
        custody.custody_abandon(epoch=epoch)

    def abort(self, *, epoch: int) -> None:
        custody.custody_abort(epoch=epoch)


@dataclasses.dataclass
class RemoteSide:
    """The catalog service, through its custody API."""

    client: CatalogClient
    name: str = "catalog-service"

    def state(self) -> dict[str, Any]:
        return self.client.custody_call("GET", "")

    def fence(self, *, epoch: int) -> dict[str, Any]:
        return self.client.custody_call("POST", "fence", json={"epoch": epoch})

    def reservations_page(self, *, after: str | None) -> list[dict[str, Any]]:
        return self.client.custody_call("GET", "reservations", params={"after": after} if after else None)

    def levels_import(self, *, epoch: int, levels: list[dict[str, Any]]) -> None:
        self.client.custody_call("POST", "levels", json={"epoch": epoch, "levels": levels})

    def reservations_import(self, *, epoch: int, reservations: list[dict[str, Any]]) -> None:
        self.client.custody_call("POST", "reservations", json={"epoch": epoch, "reservations": reservations})

    def activate(self, *, epoch: int, digest: dict[str, Any]) -> None:
        self.client.custody_call("POST", "activate", json={"epoch": epoch, "digest": digest})

    def retire(self, *, epoch: int) -> None:
        self.client.custody_call("POST", "retire", json={"epoch": epoch})

    def abandon(self, *, epoch: int) -> None:
        self.client.custody_call("POST", "abandon", json={"epoch": epoch})

    def abort(self, *, epoch: int) -> None:
        self.client.custody_call("POST", "abort", json={"epoch": epoch})


@dataclasses.dataclass(frozen=True)
class HandoverSummary:
    epoch: int
    owner: str
    levels: int
    on_hand: int
    reserved: int
    reservations: int
    fenced_seconds: float
    already_done: bool = False


def stock_handover(*, source: CustodySide, target: CustodySide,
                   progress: Callable[[str], None] = lambda line: None) -> HandoverSummary:
    """Move the stock from ``source`` to ``target``, or finish a handover cut short."""
    held, receiving = source.state(), target.state()
    if receiving["state"] == OWNER:
        if held["state"] == OWNER:
            raise Conflict(f"both {source.name} and {target.name} say they own the stock: stop and reconcile",
                           code="custody_two_owners")
        if held["state"] == FENCED and held["epoch"] == receiving["epoch"]:
            source.retire(epoch=held["epoch"])
        progress(f"{target.name} already holds the stock (handover {receiving['epoch']})")
        return HandoverSummary(epoch=receiving["epoch"], owner=target.name, levels=0, on_hand=0, reserved=0,
                               reservations=0, fenced_seconds=0.0, already_done=True)
    if held["state"] == STANDBY:
        raise Conflict(f"{source.name} does not hold the stock ({target.name} is {receiving['state']})",
                       code="custody_not_owner")
    epoch = held["epoch"] if held["state"] == FENCED else max(held["epoch"], receiving["epoch"]) + 1
    started = time.monotonic()
    fenced = source.fence(epoch=epoch)
    digest = fenced["digest"]
    progress(f"handover {epoch}: {source.name} fenced; {digest['levels']} stocked products, "
             f"{digest['on_hand']} on hand, {digest['reserved']} reserved, {digest['reservations']} reservations")
    target.levels_import(epoch=epoch, levels=fenced["levels"])
    moved, after = 0, None
    while page := source.reservations_page(after=after):
        target.reservations_import(epoch=epoch, reservations=page)
        moved, after = moved + len(page), page[-1]["order_id"]
        progress(f"handover {epoch}: {moved}/{digest['reservations']} reservations copied")
    target.activate(epoch=epoch, digest=digest)  # the commit point: refused unless the copies are equal
    source.retire(epoch=epoch)
    seconds = time.monotonic() - started
    progress(f"handover {epoch}: {target.name} owns the stock; {source.name} was fenced {seconds:.2f} s")
    return HandoverSummary(epoch=epoch, owner=target.name, levels=digest["levels"], on_hand=digest["on_hand"],
                           reserved=digest["reserved"], reservations=digest["reservations"], fenced_seconds=seconds)


def stock_handover_abort(*, fenced: CustodySide, receiving: CustodySide) -> int | None:
    """Reopen ``fenced`` for its handover unless ``receiving`` already committed it; the epoch
    aborted, or None when nothing was fenced."""
    held = fenced.state()
    if held["state"] != FENCED:
        return None
    receiving.abandon(epoch=held["epoch"])  # from now on it refuses to become owner for this epoch
    fenced.abort(epoch=held["epoch"])
    return held["epoch"]
