"""How each service's providers are verified, described once per service: which project serves
them when extracted, whose credential each HTTP consumer's requests carry, which consumers call as
a signed-in shopper, and where the provider states and messages are.

``python -m contracts.verify`` reads only this to verify any service against either
implementation; adding a service's contracts is a new entry here (plus its states), not a new path.
States and messages are named by module, imported once Django is configured as the project under
verification (they import the context's services).
"""

from __future__ import annotations

import dataclasses
import importlib
from collections.abc import Callable, Mapping
from typing import Any

from contracts.participants import MONOLITH_ORDERS, SERVICES, STOREFRONT
from contracts.providers.projects import ServiceProject

# Whose credential each caller's requests carry: the storefront's come through the proxy.
THROUGH_THE_PROXY, FROM_THE_MONOLITH = "strangler", "monolith"


@dataclasses.dataclass(frozen=True, slots=True)
class VerifiedService:
    service: str  # the strangler target (participants.SERVICES)
    project: ServiceProject  # the extracted service's Django project
    callers: Mapping[str, str]  # HTTP consumer -> the caller its internal credential names
    states: str  # module with ``state_handlers(run: StateRun) -> {state name: handler}``
    messages: str | None = None  # module with ``message_producers() -> {description: producer}``
    shoppers: frozenset[str] = frozenset()  # HTTP consumers whose requests carry a shopper's token
    # The extracted service identifies shoppers (and asks whose order it is) at a live monolith,
    # so verifying it starts one beside it and signs the shopper up there.
    identity_at_monolith: bool = False

    @property
    def providers(self) -> tuple[str, ...]:
        return SERVICES[self.service]

    def state_handlers(self, run: Any) -> dict[str, Callable[..., None]]:
        return importlib.import_module(self.states).state_handlers(run)

    def message_producers(self) -> dict[str, Callable[..., Any]]:
        return importlib.import_module(self.messages).message_producers() if self.messages else {}


VERIFIED: dict[str, VerifiedService] = {
    "payments": VerifiedService(
        service="payments",
        project=ServiceProject(name="payments-service", folder="extracted/payments",
                               settings="payments_service.settings", wsgi="payments_service.wsgi"),
        callers={STOREFRONT: THROUGH_THE_PROXY, MONOLITH_ORDERS: FROM_THE_MONOLITH},
        shoppers=frozenset({STOREFRONT}), identity_at_monolith=True,
        states="contracts.providers.payments.states", messages="contracts.providers.payments.messages",
    ),
    "catalog": VerifiedService(
        service="catalog",
        project=ServiceProject(name="catalog-service", folder="extracted/catalog",
                               settings="catalog_service.settings", wsgi="catalog_service.wsgi"),
        callers={STOREFRONT: THROUGH_THE_PROXY, MONOLITH_ORDERS: FROM_THE_MONOLITH},
        states="contracts.providers.catalog.states", messages="contracts.providers.catalog.messages",
    ),
}
