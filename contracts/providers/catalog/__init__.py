"""Provider states (and messages) of the catalog (providers catalog and catalog-events)."""
