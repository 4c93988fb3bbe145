"""The migration dashboard mounted on the admin port: login, the page, its data, its assets.

The admin server hands every request under /login, /logout and /dashboard here. The page's
script calls the ordinary JSON API (/routes/<name> to flip, with the session cookie and the CSRF
header); this module only adds what a browser needs on top of it.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any
from urllib.parse import parse_qs

from strangler.dashboard.auth import Session, Sessions, api_denial
from strangler.dashboard.backends import Backends, backends_from
from strangler.dashboard.data import (
    ContractsReport,
    DashboardSource,
    RolloutSource,
    RouteSource,
    dashboard_data,
)
from strangler.dashboard.page import fragments, login_page, page
from strangler.dashboard.throttle import FailureThrottle
from strangler.dashboard.traffic import TrafficHistory

PREFIXES = frozenset({"login", "logout", "dashboard"})
LOGIN_FAILURE_DELAY = 0.25  # seconds; slows down guessing without holding up anyone else
_ASSETS = {"app.js": "text/javascript; charset=utf-8", "app.css": "text/css; charset=utf-8",
           "icon.svg": "image/svg+xml"}
_HTML = "text/html; charset=utf-8"
# Everything the page needs comes from this port; nothing inline may run, nothing may frame it.
_PAGE_HEADERS = (
    ("Content-Security-Policy", "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
     "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"),
    ("X-Content-Type-Options", "nosniff"),
    ("X-Frame-Options", "DENY"),
    ("Referrer-Policy", "no-referrer"),
)


@dataclass(frozen=True, slots=True)
class Reply:
    status: int
    body: bytes
    content_type: str = _HTML
    headers: tuple[tuple[str, str], ...] = ()

    @classmethod
    def html(cls, status: int, text: str, *extra: tuple[str, str]) -> Reply:
        return cls(status, text.encode(), _HTML, (*_PAGE_HEADERS, *extra))

    @classmethod
    def json(cls, status: int, payload: Any) -> Reply:
        return cls(status, json.dumps(payload, indent=1).encode() + b"\n", "application/json",
                   (("X-Content-Type-Options", "nosniff"),))

    @classmethod
    def redirect(cls, location: str, *extra: tuple[str, str]) -> Reply:
        return cls(303, b"", _HTML, (("Location", location), *extra))


class Dashboard:
    """Sessions, the traffic history and the pages of one admin server."""

    def __init__(self, *, store: RouteSource, proxy: DashboardSource, token: str, contracts_record: str | None,
                 contracts_report: ContractsReport, traffic: TrafficHistory | None = None,
                 backends: Backends | None = None, rollouts: RolloutSource | None = None) -> None:
        self.store = store
        self.rollouts = rollouts
        self.proxy = proxy
        self.sessions = Sessions(token)
        self.bearer = f"Bearer {token}".encode()
        self.traffic = traffic or TrafficHistory(lambda: getattr(proxy, "metrics", None))
        self.backends = backends or backends_from(proxy)
        self.throttle = FailureThrottle()  # wrong tokens per client address
        self.contracts_record = contracts_record
        self.contracts_report = contracts_report

    def start(self) -> None:
        """Start keeping the traffic history and polling the services (on the running loop: the proxy's)."""
        self.traffic.start()
        self.backends.start()

    async def close(self) -> None:
        await self.backends.close()
        await self.traffic.close()

    def api_denial(self, method: str, headers: Mapping[str, str], client: str = "",
                   ) -> tuple[int, str, tuple[tuple[str, str], ...]] | None:
        """Why a JSON API request is refused (status, message, extra headers): a client address
        guessing tokens, a wrong bearer token, or a cookie without its CSRF header."""
        offered = bool(headers.get("authorization", "").removeprefix("Bearer").strip())
        if offered:
            wait = self.throttle.retry_after(client)
            if wait is not None:
                self.throttle.refuse()
                return 429, f"too many wrong tokens from {client}; retry in {wait} s", (("Retry-After", str(wait)),)
        denial = api_denial(self.sessions, self.bearer, method, headers)
        if offered:
            (self.throttle.succeeded if denial is None else self.throttle.failed)(client)
        return None if denial is None else (*denial, ())

    async def handle(self, method: str, parts: list[str], query: Mapping[str, str],
                     headers: Mapping[str, str], body: bytes, client: str = "") -> Reply:
        session = self.sessions.from_headers(headers)
        match parts:
            case ["login"] if method == "GET":
                return Reply.redirect("/dashboard") if session else Reply.html(200, login_page())
            case ["login"] if method == "POST":
                return await self._login(body, client)
            case ["logout"] if method == "POST":
                return self._logout(session, headers, body)
            case ["dashboard"] if method == "GET":
                if session is None:
                    return Reply.redirect("/login")
                data = await self._data()
                return Reply.html(200, page(data, session.csrf))
            case ["dashboard", "data"] if method == "GET":
                denial = self.api_denial(method, headers, client)
                if denial is not None:
                    status, message, extra = denial
                    return Reply(status, Reply.json(status, {"error": message}).body, "application/json",
                                 (("X-Content-Type-Options", "nosniff"), *extra))
                data = await self._data()
                if query.get("fragments") == "1":
                    data["fragments"] = fragments(data)
                return Reply.json(200, data)
            case ["dashboard", "static", name] if method == "GET" and name in _ASSETS:
                return Reply(200, _asset(name), _ASSETS[name], (("X-Content-Type-Options", "nosniff"),))
            case ["login"] | ["logout"] | ["dashboard"] | ["dashboard", "data"]:
                return Reply.json(405, {"error": f"method {method} not allowed here"})
        return Reply.json(404, {"error": "no such endpoint"})

    async def _data(self) -> dict[str, Any]:
        return await dashboard_data(self.store, self.proxy, self.traffic, self.contracts_record,
                                    self.contracts_report, backends=self.backends.view(), rollouts=self.rollouts)

    async def _login(self, body: bytes, client: str) -> Reply:
        token = _form(body).get("token", "")
        wait = self.throttle.retry_after(client) if token else None
        if wait is not None:
            self.throttle.refuse()
            return Reply(429, Reply.json(429, {"error": f"too many wrong tokens from {client}; retry in {wait} s"}).body,
                         "application/json", (("X-Content-Type-Options", "nosniff"), ("Retry-After", str(wait))))
        session = self.sessions.login(token) if token else None
        if token:
            (self.throttle.failed if session is None else self.throttle.succeeded)(client)
        if session is None:
            await asyncio.sleep(LOGIN_FAILURE_DELAY)
            error = "Wrong token." if token else "Enter the admin token."
            return Reply.html(401, login_page(error))
        return Reply.redirect("/dashboard", ("Set-Cookie", self.sessions.set_cookie(session)))

    def _logout(self, session: Session | None, headers: Mapping[str, str], body: bytes) -> Reply:
        if session is not None:
            if not session.csrf_ok(headers.get("x-csrf-token") or _form(body).get("csrf")):
                return Reply.json(403, {"error": "missing or wrong CSRF token"})
            self.sessions.logout(session)
        return Reply.redirect("/login", ("Set-Cookie", self.sessions.clear_cookie()))


def _form(body: bytes) -> dict[str, str]:
    """An application/x-www-form-urlencoded body; the last value of a repeated field wins."""
    return {k: v[-1] for k, v in parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True).items()}


@cache
def _asset(name: str) -> bytes:
    return (resources.files("strangler.dashboard") / "assets" / name).read_bytes()
