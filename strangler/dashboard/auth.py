"""Browser sessions for the dashboard: log in once with the admin token, then a cookie.

The cookie holds a random session id kept in this process's memory, never the token, so a leaked
cookie dies with its session (logout, expiry, restart) and says nothing about the token. Every
state-changing request a cookie authenticates must also carry the session's CSRF token in the
X-CSRF-Token header (or a `csrf` form field): another site can make the browser send the cookie,
but it cannot read the page that holds the CSRF token. Bearer requests need no CSRF token: a
browser never adds an Authorization header on its own.
"""

from __future__ import annotations

import hmac
import secrets
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from http.cookies import CookieError, SimpleCookie

COOKIE = "strangler_session"
CSRF_HEADER = "x-csrf-token"
SESSION_TTL = 8 * 3600.0  # seconds after login; then log in again
MAX_SESSIONS = 256  # the oldest session is dropped beyond this (each login makes one)
SAFE_METHODS = frozenset({"GET", "HEAD"})


@dataclass(slots=True)
class Session:
    id: str
    csrf: str
    expires: float  # on the Sessions clock

    def csrf_ok(self, candidate: str | None) -> bool:
        if not candidate:
            return False
        return hmac.compare_digest(candidate.encode(), self.csrf.encode())


class Sessions:
    """Sessions of one admin server (per replica: a session is valid on the replica that made it)."""

    def __init__(self, token: str, *, ttl: float = SESSION_TTL,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if not token:
            raise ValueError("sessions need the admin token")
        self._token = token.encode()
        self.ttl = ttl
        self._clock = clock
        self._sessions: OrderedDict[str, Session] = OrderedDict()

    def token_ok(self, candidate: str) -> bool:
        return hmac.compare_digest(candidate.encode(), self._token)

    def login(self, candidate: str) -> Session | None:
        """A new session when `candidate` is the admin token, else None."""
        if not self.token_ok(candidate):
            return None
        self._expire()
        session = Session(secrets.token_urlsafe(32), secrets.token_urlsafe(32), self._clock() + self.ttl)
        self._sessions[session.id] = session
        while len(self._sessions) > MAX_SESSIONS:
            self._sessions.popitem(last=False)
        return session

    def logout(self, session: Session) -> None:
        self._sessions.pop(session.id, None)

    def from_headers(self, headers: Mapping[str, str]) -> Session | None:
        """The live session named by the request's cookie, if any."""
        sid = cookie_value(headers.get("cookie", ""), COOKIE)
        if not sid:
            return None
        session = self._sessions.get(sid)
        if session is None:
            return None
        if self._clock() >= session.expires:
            self._sessions.pop(sid, None)
            return None
        return session

    def _expire(self) -> None:
        now = self._clock()
        for sid in [sid for sid, s in self._sessions.items() if now >= s.expires]:
            del self._sessions[sid]

    def set_cookie(self, session: Session) -> str:
        # No `Secure`: the admin port is plain HTTP on loopback; put TLS in front and add it there.
        return f"{COOKIE}={session.id}; Path=/; HttpOnly; SameSite=Strict; Max-Age={int(self.ttl)}"

    @staticmethod
    def clear_cookie() -> str:
        return f"{COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0"


def cookie_value(header: str, name: str) -> str | None:
    if not header:
        return None
    jar: SimpleCookie = SimpleCookie()
    try:
        jar.load(header)
    except CookieError:
        return None
    morsel = jar.get(name)
    return morsel.value if morsel is not None else None


def bearer_ok(headers: Mapping[str, str], expected: bytes) -> bool:
    return hmac.compare_digest(headers.get("authorization", "").encode(), expected)


def api_denial(sessions: Sessions, expected_bearer: bytes, method: str,
               headers: Mapping[str, str]) -> tuple[int, str] | None:
    """Why a JSON API request is refused, as (status, message); None when it may go on.

    An Authorization header is judged alone (a wrong token is a 401 even with a valid cookie);
    otherwise the session cookie counts, plus the CSRF header for anything but GET/HEAD."""
    if "authorization" in headers:
        return None if bearer_ok(headers, expected_bearer) else (401, "missing or wrong bearer token")
    session = sessions.from_headers(headers)
    if session is None:
        return (401, "missing or wrong bearer token")
    if method not in SAFE_METHODS and not session.csrf_ok(headers.get(CSRF_HEADER)):
        return (403, "missing or wrong CSRF token: send the page's X-CSRF-Token header")
    return None
