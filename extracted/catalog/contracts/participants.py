"""Pact participant names of the catalog service, defined once: the consumer tests, the provider
verification and the can-i-deploy gate use these. Add them to your repository's participants
module (in the Strangler Kit repository: contracts/participants.py)."""

# Consumers
CATALOG_CLIENT = "monolith-catalog"  # the monolith's remote client of catalog

# Providers
CATALOG = "catalog"  # the service's HTTP APIs (public /api/v1/products, internal /internal/v1/catalog)
CATALOG_EVENTS = "catalog-events"  # the events the service publishes through its outbox

# The service (the strangler target name) and the providers it must honour before it takes traffic.
SERVICES: dict[str, tuple[str, ...]] = {
    "catalog": (CATALOG, CATALOG_EVENTS),
}
