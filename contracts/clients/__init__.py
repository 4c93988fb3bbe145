"""Clients whose expectations the pacts record. They are production-shaped code: none knows of Pact."""
