"""Which implementation serves the catalog's reads and stock steps, from ``settings.CATALOG_IMPL``:
this process's code ("local"), the extracted catalog service ("remote"), or whichever side holds
the stock ("owner": this database's custody row, custody.py).

There is no "follow" by the proxy's cohorts on purpose: a canary that split stock steps between
the sides would let both reserve the same units. With "owner", every stock step goes to the one
side that holds the stock, and a handover moves it (README: "No oversell, ever"). While this side
is fenced for a handover its steps answer 503 with Retry-After, and the saga retries.
"""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from monolith.catalog.custody import STANDBY, custody_get
from strangler.django.route_follower import LOCAL, REMOTE, Side

__all__ = ["LOCAL", "OWNER", "REMOTE", "catalog_impl"]

OWNER = "owner"


def catalog_impl() -> Side:
    configured = getattr(settings, "CATALOG_IMPL", LOCAL)  # the catalog service runs this code: local there
    if configured == LOCAL or configured == REMOTE:
        return configured
    if configured == OWNER:
        return REMOTE if custody_get().state == STANDBY else LOCAL
    raise ImproperlyConfigured(f"CATALOG_IMPL must be 'local', 'remote' or 'owner', not {configured!r} (no "
                               "'follow': stock moves to one owner at a time)")
