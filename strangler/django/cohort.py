"""The proxy's canary cohort for a project's own calls: the incoming request's cohort header (or
cookie), keyed and hashed exactly as the proxy does, so one client lands on one side everywhere."""

from __future__ import annotations

from collections.abc import Callable
from contextvars import ContextVar

from django.conf import settings
from django.http import HttpRequest, HttpResponse

from strangler.proxy.routing import RequestInfo, cohort_key
from strangler.proxy.types import CohortKey, Route

_current: ContextVar[RequestInfo | None] = ContextVar("strangler_cohort_request", default=None)


class CohortRequestMiddleware:
    """Keeps the current request's headers for ``request_cohort_key`` (settings.MIDDLEWARE)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        headers = {name.lower().encode("latin-1"): value.encode("latin-1", "replace")
                   for name, value in request.headers.items()}
        token = _current.set(RequestInfo(method=request.method or "GET", headers=headers,
                                         client_ip=request.META.get("REMOTE_ADDR", "")))
        try:
            return self.get_response(request)
        finally:
            _current.reset(token)


def cohort_parse(raw: str) -> CohortKey:
    """A route's ``cohort`` setting as the proxy's route table writes it: "header:<name>",
    "cookie:<name>" or "client_ip"."""
    source, _, name = raw.partition(":")
    if source not in ("header", "cookie", "client_ip") or (source != "client_ip" and not name):
        raise ValueError(f"a cohort is 'header:<name>', 'cookie:<name>' or 'client_ip', not {raw!r}")
    return CohortKey(source, name.lower() if source == "header" else name)


def request_cohort_key(*, route: str) -> bytes | None:
    """The proxy's cohort key of the current request for ``route``, per settings.STRANGLER_ROUTE_COHORTS
    (route name -> the route's ``cohort`` setting). None outside a request, for a route without a
    declared cohort, and when the key would be the client address: the proxy sees the client's,
    this process only the proxy's."""
    raw = getattr(settings, "STRANGLER_ROUTE_COHORTS", {}).get(route)
    info = _current.get()
    if not raw or info is None:
        return None
    key = cohort_key(Route(name=route, prefix="/", service=route, cohort=cohort_parse(raw)), info)
    return None if key.startswith(b"ip:") else key
