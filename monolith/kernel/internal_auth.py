"""Guard of service-to-service endpoints: a path prefix needs a valid internal credential from
one of its allowed callers, else 401 with the JSON error shape.

Settings: ``INTERNAL_AUTH_SECRET`` and ``INTERNAL_AUTH_PATHS`` (prefix -> allowed callers).
The caller's name is left on ``request.internal_caller`` (None on open paths).
"""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse

from monolith.kernel.errors import error_body
from strangler.credentials import HEADER, credential_verify

_META_KEY = "HTTP_" + HEADER.upper().replace("-", "_")


def internal_caller(request: HttpRequest) -> str | None:
    """The verified caller of ``request``, or None."""
    return credential_verify(settings.INTERNAL_AUTH_SECRET, request.META.get(_META_KEY))


class InternalCredentialMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response
        self.paths: tuple[tuple[str, frozenset[str]], ...] = tuple(
            sorted(((p, frozenset(c)) for p, c in settings.INTERNAL_AUTH_PATHS.items()), key=lambda pc: -len(pc[0]))
        )

    def __call__(self, request: HttpRequest) -> HttpResponse:
        request.internal_caller = None
        for prefix, callers in self.paths:
            if request.path.startswith(prefix):
                caller = internal_caller(request)
                if caller is None or caller not in callers:
                    return JsonResponse(error_body(
                        "internal_credential_required",
                        f"{request.path} needs a valid {HEADER} from one of: {', '.join(sorted(callers))}",
                    ), status=401)
                request.internal_caller = caller
                break
        return self.get_response(request)
