"""Provider side of the contracts: the live providers, their states (seeded through services) and
the messages they publish, for ``python -m contracts.verify``."""
