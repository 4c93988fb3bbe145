"""What the kit holds that needs a person, in one small document: sync conflicts per context, dead
letters, outbox rows not yet published, and a route follower that cannot read the strangler's
store. The proxy's admin side polls it on every target (strangler.dashboard.backends), shows the
counts on the dashboard and exports them on its /metrics, so one scrape and one page cover every
service of a cutover.

Mount ``strangler.django.urls`` under ``internal/strangler/`` and let the proxy's status caller in:
``INTERNAL_AUTH_PATHS = {"/internal/strangler/": ["strangler"], ...}``. Counts only, no row content.
"""

from __future__ import annotations

from typing import Any

from django.apps import apps
from django.conf import settings
from django.db.models import Count
from django.http import HttpRequest, JsonResponse

from strangler.django.errors import error_body
from strangler.django.route_follower import route_followers_health

OUTBOX_APP = "strangler.django.outbox"
EXTRACTION_APP = "strangler.django.extraction"


def kit_status() -> dict[str, Any]:
    """Counts of what the kit's apps installed in this project hold (an app not installed: absent)."""
    status: dict[str, Any] = {}
    if apps.is_installed(OUTBOX_APP):
        from strangler.django.outbox.acks import deliveries_overdue_count
        from strangler.django.outbox.failures import consumers_retrying_count, dead_letters_count
        from strangler.django.outbox.services import outbox_pending_count

        status["dead_letters"] = dead_letters_count()
        status["consumers_retrying"] = consumers_retrying_count()
        status["outbox_pending"] = outbox_pending_count()
        status["deliveries_unacknowledged"] = deliveries_overdue_count()  # sent again, still no ack
    if apps.is_installed(EXTRACTION_APP):
        from strangler.django.extraction.models import SyncConflict

        rows = SyncConflict.objects.values("context").annotate(n=Count("id")).order_by("context")
        status["conflicts"] = {row["context"]: row["n"] for row in rows}
    if getattr(settings, "STRANGLER_EXTRACTIONS", None) and apps.is_installed(OUTBOX_APP):
        status["sync"] = _sync_destinations()
    followers = route_followers_health()
    if followers:  # this process's; every process reads the same store, so an outage shows in each
        status["route_followers"] = followers
    return status


def _sync_destinations() -> dict[str, dict[str, list[str]]]:
    """Per extracted context: where OUTBOX_ROUTES sends each of its snapshot events (an empty list:
    nowhere, so the other side would never hear of this side's writes)."""
    from strangler.django.extraction.spec import extraction_spec
    from strangler.django.outbox.services import outbox_queues

    out = {}
    for context in settings.STRANGLER_EXTRACTIONS:
        spec = extraction_spec(context=context)
        out[context] = {event: outbox_queues(event) for event in spec.snapshot_events}
    return out


def status_view(request: HttpRequest) -> JsonResponse:
    if request.method not in ("GET", "HEAD"):
        response = JsonResponse(error_body("method_not_allowed", f"{request.method} not allowed; GET it"), status=405)
        response["Allow"] = "GET, HEAD"
        return response
    return JsonResponse(kit_status())
