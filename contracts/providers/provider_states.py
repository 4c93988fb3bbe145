"""What every provider's state handlers share: their type, their refusal, the run they seed for,
and the wrapper that runs them on pact-python's threads.

A provider's handlers (contracts/providers/<provider>/states.py) are imported only once Django is
configured for the project under verification (projects.py): the same handlers seed the
monolith's database or the service's, through the same services.
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Callable, Mapping
from typing import Any

from django.db import connections

Handler = Callable[[dict[str, Any]], None]
# (order id, owner) seeded into the monolith a service asks about orders (payments' monolith_orders.py).
OrderSeed = Callable[[uuid.UUID, uuid.UUID], None]


class StateError(RuntimeError):
    """A provider state cannot be set up as asked."""


@dataclasses.dataclass(frozen=True, slots=True)
class StateRun:
    """What a verification run set up that states may need: the shopper the verifier signs requests
    as, and a way to put an order into the monolith a service asks (both None when absent)."""

    shopper_id: uuid.UUID | None = None
    monolith_order_seed: OrderSeed | None = None


def uuid_param(parameters: dict[str, Any], name: str) -> uuid.UUID:
    try:
        return uuid.UUID(str(parameters[name]))
    except (KeyError, ValueError) as exc:
        raise StateError(f"provider state parameter {name!r} must be a UUID, "
                         f"got {parameters.get(name)!r}") from exc


def closing(handlers: Mapping[str, Handler]) -> dict[str, Handler]:
    """The handlers as the verifier calls them: on pact-python's threads, so each gives back its
    database connections afterwards."""

    def wrapped(handler: Handler) -> Handler:
        def run(parameters: dict[str, Any] | None = None) -> None:
            try:
                handler(parameters or {})
            finally:
                connections.close_all()
        return run

    return {name: wrapped(handler) for name, handler in handlers.items()}
