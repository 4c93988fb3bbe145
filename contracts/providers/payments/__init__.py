"""Provider states and messages of payments (providers payments and payments-events)."""
