"""Pact participant names, defined once: pact files, verifications, the record and the gate use these.

A provider's events have a provider name of their own (``PAYMENTS_EVENTS``): the HTTP verifier of
``PAYMENTS`` then never has to produce messages, and the message verifier never needs a server.
"""

from __future__ import annotations

from strangler.control.deploy_decision import IMPLEMENTATIONS

# Consumers
STOREFRONT = "storefront"  # end users' apps calling /api/v1/payments and /api/v1/products through the strangler
# The monolith's remote clients as orders uses them (its checkout saga): of payments
# (monolith/payments/remote.py) and of the catalog (monolith/catalog/remote.py).
MONOLITH_ORDERS = "monolith-orders"
MONOLITH_EVENTS = "monolith-event-consumers"  # the monolith's handlers of the services' events

# Providers
PAYMENTS = "payments"  # the payments HTTP APIs (public /api/v1/payments, internal /internal/v1/payments)
PAYMENTS_EVENTS = "payments-events"  # the events payments publishes through its outbox
CATALOG = "catalog"  # the catalog HTTP APIs (public /api/v1/products, internal /internal/v1/catalog)
CATALOG_EVENTS = "catalog-events"  # the events the catalog publishes through its outbox

# A service (the strangler target name) and the providers it must honour before it takes traffic.
# The gate asks for every committed pact of these providers (a provider without pacts asks nothing).
SERVICES: dict[str, tuple[str, ...]] = {
    "payments": (PAYMENTS, PAYMENTS_EVENTS),
    "catalog": (CATALOG, CATALOG_EVENTS),
}

# Where each provider is verified: the monolith's implementation and the extracted service alike.
# The strangler's gate asks for the same two (strangler/control/deploy_decision.py).
AGAINST = IMPLEMENTATIONS
MONOLITH, SERVICE = AGAINST
