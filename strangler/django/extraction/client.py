"""HTTP client of the other store's sync endpoints of one extraction (``<sync_path>import/`` and ``checksums/``).

Used by strangler_backfill and strangler_reconcile. Both calls are safe to repeat (the import upserts,
checksums only read), so connection errors, timeouts and 5xx are retried with backoff; a 4xx is
a refusal and is not.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

import requests

from strangler.django.internal_auth import HEADER, internal_credentials

TRIES = 3
BACKOFF_SECONDS = 0.5  # doubled after each failed try
CONNECT_TIMEOUT = 5.0
READ_TIMEOUT = 120.0  # a large import batch on a busy target takes a while


class SyncTargetError(Exception):
    """The target could not be reached (``refused`` False) or answered with an error (True)."""

    def __init__(self, message: str, *, refused: bool, status: int | None = None) -> None:
        super().__init__(message)
        self.refused = refused
        self.status = status


def _error_text(response: requests.Response) -> str:
    try:
        error = response.json()["error"]
        return f"{error['code']}: {error['message']}"
    except (ValueError, KeyError, TypeError):
        return response.text[:300]


class SyncTarget:
    def __init__(self, base_url: str, *, sync_path: str, audience: str, tries: int | None = None,
                 backoff: float | None = None) -> None:
        """``audience``: the target's name for internal credentials (its ``INTERNAL_AUTH_AUDIENCE``)."""
        self.base_url = base_url.rstrip("/")
        self.import_path, self.checksums_path = sync_path + "import/", sync_path + "checksums/"
        self.tries = max(1, TRIES if tries is None else tries)
        self.backoff = BACKOFF_SECONDS if backoff is None else backoff
        self.session = requests.Session()
        self.credentials = internal_credentials(audience)

    def close(self) -> None:
        self.session.close()

    def _call(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        url = self.base_url + path
        delay = self.backoff
        extra_headers = kwargs.pop("headers", {})
        for attempt in range(1, self.tries + 1):
            headers = {HEADER: self.credentials.current(), **extra_headers}
            try:
                response = self.session.request(method, url, headers=headers,
                                                timeout=(CONNECT_TIMEOUT, READ_TIMEOUT), **kwargs)
            except requests.RequestException as exc:
                failure = SyncTargetError(f"{method} {url} failed: {exc}", refused=False)
            else:
                if response.status_code < 400:
                    try:
                        return response.json()
                    except ValueError:
                        raise SyncTargetError(f"{method} {url} answered {response.status_code} without JSON",
                                              refused=True, status=response.status_code) from None
                message = f"{method} {url} answered {response.status_code} ({_error_text(response)})"
                if response.status_code < 500:
                    raise SyncTargetError(message, refused=True, status=response.status_code)
                failure = SyncTargetError(message, refused=False, status=response.status_code)
            if attempt == self.tries:
                raise failure
            time.sleep(delay)
            delay *= 2
        raise AssertionError("unreachable")

    def import_batch(self, body: bytes) -> dict[str, Any]:
        """POST an already encoded batch ({<kind>: [rows], ..., "origin": ...})."""
        return self._call("POST", self.import_path, data=body, headers={"Content-Type": "application/json"})

    def checksums_page(self, *, after: uuid.UUID | str | None, limit: int) -> dict[str, Any]:
        params: dict[str, Any] = {"limit": limit}
        if after is not None:
            params["after"] = str(after)
        return self._call("GET", self.checksums_path, params=params)
