"""Internal credentials in a Django project: the middleware guarding service-to-service
endpoints (a path prefix needs a valid credential from one of its allowed callers, else 401 with
the JSON error shape) and the source of this project's own credentials for its outgoing calls.

Settings: ``INTERNAL_AUTH_SECRET`` (root secret every pair's key is derived from) and/or
``INTERNAL_AUTH_KEYS`` (pairwise keys ``{"caller>audience": key}``, which win; see
strangler.proxy.credentials), ``INTERNAL_AUTH_PATHS`` (prefix -> allowed callers),
``INTERNAL_AUTH_CALLER`` (this project's name on its outgoing calls) and ``INTERNAL_AUTH_AUDIENCE``
(the name callers address it by; ``INTERNAL_AUTH_CALLER`` when unset). Only credentials minted for
this audience are accepted. The caller's name is left on ``request.internal_caller`` (None on open
paths). The format is the proxy's (strangler.proxy.credentials).
"""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse

from strangler.django.errors import error_body
from strangler.proxy.credentials import HEADER, CredentialSource, Keyring, credential_verify

__all__ = ["HEADER", "CredentialSource", "InternalCredentialMiddleware", "internal_audience", "internal_caller",
           "internal_credentials", "internal_keyring"]

_META_KEY = "HTTP_" + HEADER.upper().replace("-", "_")


_keyring_cache: tuple[object, object, Keyring] | None = None  # (secret, keys, keyring): rebuilt when settings change


def internal_keyring() -> Keyring:
    """This project's keys: ``INTERNAL_AUTH_KEYS`` pairs, else derived from ``INTERNAL_AUTH_SECRET``
    (built once per settings values, so derived keys are memoised across requests)."""
    global _keyring_cache
    secret = getattr(settings, "INTERNAL_AUTH_SECRET", "")
    keys = getattr(settings, "INTERNAL_AUTH_KEYS", None)
    cached = _keyring_cache
    if cached is not None and cached[0] is secret and cached[1] is keys:
        return cached[2]
    ring = Keyring(root=secret or None, pairs=keys or None)
    _keyring_cache = (secret, keys, ring)
    return ring


def internal_audience() -> str:
    return getattr(settings, "INTERNAL_AUTH_AUDIENCE", "") or settings.INTERNAL_AUTH_CALLER


def internal_caller(request: HttpRequest) -> str | None:
    """The verified caller of ``request`` (a credential minted for this project), or None."""
    value = request.META.get(_META_KEY)
    if not value:
        return None
    return credential_verify(internal_keyring(), value, audience=internal_audience())


def internal_credentials(audience: str) -> CredentialSource:
    """Fresh credentials of this project (``INTERNAL_AUTH_CALLER``) for its calls to ``audience``;
    ``.current()`` gives the header value. Not thread-safe: one per client, or under a lock."""
    return CredentialSource(internal_keyring(), settings.INTERNAL_AUTH_CALLER, audience=audience)


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
                        f"{request.path} needs a valid {HEADER} for {internal_audience()} from one of: "
                        f"{', '.join(sorted(callers))}",
                    ), status=401)
                request.internal_caller = caller
                break
        return self.get_response(request)
