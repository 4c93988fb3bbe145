"""Which implementation serves the catalog's reads and stock steps: this process's code ("local")
or the extracted catalog service ("remote"), from ``settings.CATALOG_IMPL``.

There is no "follow" yet: a canary that split stock steps between the sides by cohort would let
both sides reserve the same units. Stock goes to one owner at a time, moved by a fenced handover
(the README's "No oversell, ever"); until that is built, the catalog is pinned to one side.
"""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from strangler.django.route_follower import LOCAL, REMOTE, Side

__all__ = ["LOCAL", "REMOTE", "catalog_impl"]


def catalog_impl() -> Side:
    configured = getattr(settings, "CATALOG_IMPL", LOCAL)  # the catalog service runs this code: local there
    if configured == LOCAL or configured == REMOTE:
        return configured
    raise ImproperlyConfigured(f"CATALOG_IMPL must be 'local' or 'remote', not {configured!r} (no 'follow': "
                               "stock moves to one owner at a time)")
