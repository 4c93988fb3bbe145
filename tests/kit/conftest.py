"""Fixtures of the kit's bus tests."""

import pytest

from strangler.django.outbox import bus


@pytest.fixture
def registry(monkeypatch):
    """A private subscriber registry, so test consumers never leak into other tests."""
    fresh: dict = {}
    monkeypatch.setattr(bus, "_subscribers", fresh)
    monkeypatch.setattr(bus, "_calls_out", set())
    return fresh
