"""Pact participant names, defined once: pact files, verifications, the record and the gate use these.

A provider's events have a provider name of their own (``PAYMENTS_EVENTS``): the HTTP verifier of
``PAYMENTS`` then never has to produce messages, and the message verifier never needs a server.
"""

from __future__ import annotations

from strangler.control.deploy_decision import IMPLEMENTATIONS

# Consumers
STOREFRONT = "storefront"  # end users' apps calling /api/v1/payments through the strangler
MONOLITH_ORDERS = "monolith-orders"  # the monolith's remote payments client (orders' view of payments)
MONOLITH_EVENTS = "monolith-event-consumers"  # the monolith's handlers of payments events

# Providers
PAYMENTS = "payments"  # the payments HTTP APIs (public /api/v1/payments, internal /internal/v1/payments)
PAYMENTS_EVENTS = "payments-events"  # the events payments publishes through its outbox

# A service (the strangler target name) and the providers it must honour before it takes traffic.
SERVICES: dict[str, tuple[str, ...]] = {
    "payments": (PAYMENTS, PAYMENTS_EVENTS),
}

# Where each provider is verified: the monolith's implementation and the extracted service alike.
# The strangler's gate asks for the same two (strangler/control/deploy_decision.py).
AGAINST = IMPLEMENTATIONS
MONOLITH, SERVICE = AGAINST
