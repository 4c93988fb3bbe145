"""Pact skeletons of the catalog service: participant names, a consumer test and a provider verification."""
