"""Which implementation serves a payments call: this process's code ("local") or the extracted
payments service ("remote").

``settings.PAYMENTS_IMPL`` pins one side, or says "follow": then the strangler's route state for
``settings.PAYMENTS_ROUTE`` decides (strangler.django.route_follower), so one ``strangler set``
moves the proxy's client traffic and the monolith's internal calls together.
"""

from __future__ import annotations

import uuid
from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.signals import setting_changed

from strangler.django.route_follower import LOCAL, REMOTE, Side, route_followers_reset, route_side

__all__ = ["FOLLOW", "LOCAL", "REMOTE", "follower_reset", "payments_impl"]

FOLLOW = "follow"


def payments_impl(*, user_id: uuid.UUID | None = None) -> Side:
    """The side that serves this call. ``user_id`` keeps a canary sticky per user; calls without
    one stay local during a canary (there is no cohort to be sticky about).
    ``settings.PAYMENTS_ROUTE_CACHE_SECONDS`` overrides the kit's STRANGLER_ROUTE_CACHE_SECONDS."""
    configured = settings.PAYMENTS_IMPL
    if configured == LOCAL or configured == REMOTE:
        return configured
    if configured != FOLLOW:
        raise ImproperlyConfigured(f"PAYMENTS_IMPL must be 'local', 'remote' or 'follow', not {configured!r}")
    cache = getattr(settings, "PAYMENTS_ROUTE_CACHE_SECONDS", None)
    return route_side(route=settings.PAYMENTS_ROUTE, user_id=user_id,
                      cache_seconds=None if cache is None else float(cache))


def follower_reset() -> None:
    """Forget the follower (its store connection and cached state)."""
    route_followers_reset()


def _on_setting_changed(*, setting: str, **kwargs: Any) -> None:
    if setting in {"PAYMENTS_IMPL", "PAYMENTS_ROUTE", "PAYMENTS_ROUTE_CACHE_SECONDS"}:
        follower_reset()


setting_changed.connect(_on_setting_changed, dispatch_uid="monolith.payments.switch")
