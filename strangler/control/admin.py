"""Admin HTTP API on its own port: read and flip route states, audit trail, metrics, and drains of
the WebSocket tunnels a flip moved (``POST /routes/<name>/drain``, or ``drain_grace`` on a flip:
recorded in the store, so every replica drains its own).

Deliberately tiny (asyncio streams, one request at a time per connection): it serves operators
and scrapers, not client traffic, and must not share a code path or port with the proxy.
Every API endpoint needs ``Authorization: Bearer <token>``, or the session cookie of the migration
dashboard (strangler.dashboard.handler, mounted under /login, /logout and /dashboard) plus its CSRF header
for changes.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Protocol
from urllib.parse import parse_qs, unquote, urlsplit

from strangler.control.admin_http import (
    IDLE_TIMEOUT,
    MAX_BODY_BYTES,
    MAX_HEADER_BYTES,
    Response,
    head_parse,
    response_send,
)
from strangler.control.flip_gate import contracts_report
from strangler.control.rollout.api import rollout_endpoint
from strangler.control.rollout.plan import Status
from strangler.control.rollout.records import RolloutConflict, RolloutRecords
from strangler.control.store import (
    FlipRefused,
    InvalidState,
    NothingToRollBack,
    Store,
    StoreError,
    UnknownRoute,
    parse_state,
    validate_grace,
)
from strangler.dashboard.handler import PREFIXES as DASHBOARD_PREFIXES
from strangler.dashboard.handler import Dashboard
from strangler.proxy.types import BreakerState, Mode, RouteState

log = logging.getLogger("strangler.admin")

_BREAKER_VALUE = {BreakerState.CLOSED: 0, BreakerState.HALF_OPEN: 1, BreakerState.OPEN: 2}


class ProxyView(Protocol):
    """What the admin API reads from the running proxy (strangler.proxy.server.ProxyServer)."""

    def apply_states(self, states: Mapping[str, RouteState]) -> None: ...
    def breaker_states(self) -> Mapping[str, BreakerState]: ...
    def shadow_report(self) -> Mapping[str, Any]: ...


class AdminServer:
    def __init__(
        self,
        *,
        store: Store,
        proxy: ProxyView,
        token: str,
        host: str = "127.0.0.1",
        port: int = 8100,
        on_change: Callable[[], Awaitable[Any]] | None = None,
        contracts_record: str | None = None,
        rollouts: RolloutRecords | None = None,
    ) -> None:
        if not token:
            raise ValueError("the admin API needs a token")
        self.store = store
        self.proxy = proxy
        self.host = host
        self.port = port
        self.on_change = on_change  # applies a change to this replica at once (others via the watcher)
        self.rollouts = rollouts  # /rollouts (strangler.control.rollout.api); None: not served
        self._expected = f"Bearer {token}".encode()
        self._server: asyncio.Server | None = None
        # The proxy's route table names what the store's guard asks; the dashboard shows the same answer.
        contracts = getattr(getattr(proxy, "config", None), "contracts", None)
        if contracts_record is None:
            contracts_record = contracts.record if contracts else None
        self.dashboard = Dashboard(store=store, proxy=proxy, token=token, contracts_record=contracts_record,
                                   contracts_report=functools.partial(contracts_report, contracts),
                                   rollouts=rollouts)

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._client, self.host, self.port, limit=MAX_HEADER_BYTES)
        self.port = self._server.sockets[0].getsockname()[1]
        self.dashboard.start()

    async def close(self) -> None:
        await self.dashboard.close()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None

    # -- HTTP ------------------------------------------------------------------------------
    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = writer.get_extra_info("peername")
        client = str(peer[0]) if isinstance(peer, tuple) and peer else "local"
        try:
            while True:
                try:
                    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), IDLE_TIMEOUT)
                except (asyncio.IncompleteReadError, TimeoutError, ConnectionError):
                    return
                except asyncio.LimitOverrunError:
                    await response_send(writer, Response.error(400, "request head too large"), keep_alive=False)
                    return
                request = head_parse(head)
                if request is None:
                    await response_send(writer, Response.error(400, "malformed request"), keep_alive=False)
                    return
                method, target, version, headers = request
                length = headers.get("content-length", "0")
                if not length.isdigit() or int(length) > MAX_BODY_BYTES or "transfer-encoding" in headers:
                    await response_send(writer, Response.error(413, "body must have a Content-Length <= 64 KiB"), False)
                    return
                try:
                    body = await asyncio.wait_for(reader.readexactly(int(length)), IDLE_TIMEOUT)
                except TimeoutError:
                    return
                response = await self._handle(method, target, headers, body, client)
                connection = headers.get("connection", "").lower()
                keep_alive = connection == "keep-alive" or (version == "HTTP/1.1" and connection != "close")
                await response_send(writer, response, keep_alive)
                if not keep_alive:
                    return
        except (ConnectionError, asyncio.IncompleteReadError):
            return
        finally:
            writer.close()

    async def _handle(self, method: str, target: str, headers: Mapping[str, str], body: bytes,
                      client: str = "") -> Response:
        url = urlsplit(target)
        parts = [unquote(p) for p in url.path.strip("/").split("/")]
        query = {k: v[-1] for k, v in parse_qs(url.query).items()}
        try:
            if parts[0] in DASHBOARD_PREFIXES:
                reply = await self.dashboard.handle(method, parts, query, headers, body, client)
                return Response(reply.status, reply.body, reply.content_type, reply.headers)
            denial = self.dashboard.api_denial(method, headers, client)
            if denial is not None:
                status, message, extra = denial
                return Response(status, Response.error(status, message).body, headers=extra)
            return await self._dispatch(method, parts, query, body)
        except UnknownRoute as exc:
            return Response.error(404, str(exc))
        except (FlipRefused, NothingToRollBack, RolloutConflict) as exc:
            return Response.error(409, str(exc))
        except (InvalidState, StoreError) as exc:
            return Response.error(400, str(exc))
        except Exception:
            log.exception("admin request %s %s failed", method, target)
            return Response.error(500, "internal error; see the proxy log")

    async def _dispatch(self, method: str, parts: list[str], query: dict[str, str], body: bytes) -> Response:
        if parts[0] == "rollouts" and self.rollouts is not None:
            payload = _json_object(body) if method == "POST" else None
            status, answer = await rollout_endpoint(
                method, parts, payload, store=self.store, records=self.rollouts, actor=_actor(payload or {}),
                reconcile_commands=getattr(getattr(self.proxy, "config", None), "rollout_reconcile", None))
            if status == 201 or (status == 200 and method == "POST"):
                await self._changed()
            return Response.json(status, answer)
        match parts:
            case ["healthz"] if method == "GET":
                return Response.json(200, {"ok": True, "version": await asyncio.to_thread(self.store.version)})
            case ["routes"] if method == "GET":
                return Response.json(200, {"routes": await self._routes()})
            case ["routes", name] if method in ("PUT", "POST"):
                payload = _json_object(body)
                state = parse_state(payload.get("mode"), payload.get("weight"))
                force = payload.get("force", False)
                if not isinstance(force, bool):
                    raise InvalidState("force must be true or false")
                grace = payload.get("drain_grace")
                if grace is not None:
                    validate_grace(grace)  # before the flip: a bad drain must not leave it half done
                entry = await asyncio.to_thread(
                    self.store.set_state, name, state, actor=_actor(payload), reason=payload.get("reason"),
                    force=force,
                )
                out: dict[str, Any] = {"changed": entry.as_dict()}
                if grace is not None:  # the flip is committed; its drain follows it to every replica
                    drain = await asyncio.to_thread(self.store.request_drain, name, grace, actor=_actor(payload),
                                                    reason=payload["reason"])
                    out["drain"] = drain.as_dict()
                await self._changed()
                return Response.json(200, out)
            case ["routes", name, "drain"] if method == "POST":
                payload = _json_object(body)
                if "grace" not in payload:
                    raise InvalidState("grace is required: seconds before the moved tunnels are closed")
                drain = await asyncio.to_thread(self.store.request_drain, name, payload["grace"],
                                                actor=_actor(payload), reason=payload["reason"])
                await self._changed()
                return Response.json(200, {"drain": drain.as_dict()})
            case ["routes", name, "rollback"] if method == "POST":
                payload = _json_object(body)
                entry = await asyncio.to_thread(
                    self.store.rollback, name, actor=_actor(payload), reason=payload.get("reason")
                )
                await self._changed()
                return Response.json(200, {"changed": entry.as_dict()})
            case ["history"] if method == "GET":
                limit = query.get("limit", "50")
                if not limit.isdigit():
                    raise InvalidState("limit must be a positive integer")
                entries = await asyncio.to_thread(self.store.history, query.get("route"), int(limit))
                return Response.json(200, {"history": [e.as_dict() for e in entries]})
            case ["metrics"] if method == "GET":
                rollouts = await asyncio.to_thread(self._rollout_lines)
                return Response(200, (self._metrics() + rollouts).encode(), "text/plain; version=0.0.4; charset=utf-8")
            case (["healthz"] | ["routes"] | ["routes", _] | ["routes", _, "rollback"] | ["routes", _, "drain"]
                  | ["history"] | ["metrics"]):
                return Response.error(405, f"method {method} not allowed here")
        return Response.error(404, "no such endpoint")

    async def _changed(self) -> None:
        if self.on_change is not None:
            try:
                await self.on_change()
            except Exception:  # the change is committed; the watcher retries applying it
                log.exception("could not apply the committed change at once")

    async def _routes(self) -> list[dict[str, Any]]:
        version, states = await asyncio.to_thread(self.store.snapshot)
        breakers = self.proxy.breaker_states()
        shadow = self.proxy.shadow_report()
        out = []
        for route in self.store.table.routes:
            state = states.get(route.name, route.state)
            breaker = breakers.get(route.service) if route.service else None
            out.append({
                "name": route.name,
                "prefix": route.prefix,
                "service": route.service,
                "mode": state.mode.value,
                "weight": state.weight,
                "breaker": breaker.value if breaker is not None else None,
                "shadow": _shadow_counts(shadow, route.name),
                "store_version": version,
            })
        return out

    def _rollout_lines(self) -> str:
        if self.rollouts is None:
            return ""
        found = {r.name: self.rollouts.for_route(r.name) for r in self.store.table.routes if r.service}
        leader = self.rollouts.leader()
        return _rollout_metrics({k: v for k, v in found.items() if v is not None}, leader[0] if leader else None)

    def _metrics(self) -> str:
        """The proxy's own metrics plus what only the control plane knows (live route states)."""
        metrics = getattr(self.proxy, "metrics", None)
        text = metrics.render() if metrics is not None else ""
        if text and not text.endswith("\n"):
            text += "\n"
        lines: list[str] = []
        if "strangler_breaker_state" not in text:
            lines += ["# HELP strangler_breaker_state Circuit breaker: 0 closed, 1 half-open, 2 open",
                      "# TYPE strangler_breaker_state gauge"]
            for target, state in sorted(self.proxy.breaker_states().items()):
                lines.append(f'strangler_breaker_state{{target="{target}"}} {_BREAKER_VALUE.get(state, 0)}')
        table = getattr(self.proxy, "table", self.store.table)
        lines += ["# HELP strangler_route_weight Canary weight in force on this replica (percent)",
                  "# TYPE strangler_route_weight gauge"]
        lines += [f'strangler_route_weight{{route="{r.name}"}} {r.state.weight}' for r in table.routes]
        lines += ["# HELP strangler_route_mode Mode in force on this replica (1 for the current mode)",
                  "# TYPE strangler_route_mode gauge"]
        for route in table.routes:
            for mode in Mode:
                lines.append(f'strangler_route_mode{{route="{route.name}",mode="{mode.value}"}} '
                             f"{int(route.state.mode is mode)}")
        lines += ["# HELP strangler_admin_auth_refused_total Admin requests refused because their address kept "
                  "sending wrong tokens", "# TYPE strangler_admin_auth_refused_total counter",
                  f"strangler_admin_auth_refused_total {self.dashboard.throttle.refused}"]
        lines += self.dashboard.backends.metrics_lines()  # each service's conflicts and dead letters
        return text + "\n".join(lines) + "\n"


def _rollout_metrics(rollouts: Mapping[str, Any], leader: str | None) -> str:
    """Each route's rollout (active, else latest) as gauges: its status and the step it is on."""
    lines = ["# HELP strangler_rollout_status Rollout of the route: 1 for its current status",
             "# TYPE strangler_rollout_status gauge"]
    steps = ["# HELP strangler_rollout_step The step the route's rollout is on (1 = first)",
             "# TYPE strangler_rollout_step gauge"]
    for route, rollout in sorted(rollouts.items()):
        for status in Status:
            lines.append(f'strangler_rollout_status{{route="{route}",status="{status.value}"}} '
                         f"{int(rollout.status is status)}")
        steps.append(f'strangler_rollout_step{{route="{route}"}} {rollout.step + 1}')
    lines += steps
    lines += ["# HELP strangler_rollout_leader 1 when a proxy replica holds the rollout controller's lease",
              "# TYPE strangler_rollout_leader gauge", f"strangler_rollout_leader {int(leader is not None)}"]
    return "\n".join(lines) + "\n"


def _shadow_counts(report: Mapping[str, Any], route: str) -> dict[str, Any]:
    """The shadow report is per route; keep only its counters (samples can be large)."""
    entry = report.get(route) if isinstance(report, Mapping) else None
    if isinstance(entry, Mapping):
        return {k: v for k, v in entry.items() if isinstance(v, int | float) and not isinstance(v, bool)}
    return {}  # never shadowed on this replica


def _actor(payload: Mapping[str, Any]) -> str:
    actor = payload.get("actor", "admin-api")
    return actor if isinstance(actor, str) and actor.strip() else "admin-api"


def _json_object(body: bytes) -> dict[str, Any]:
    try:
        payload = json.loads(body or b"{}")
    except ValueError:
        raise InvalidState("body must be a JSON object") from None
    if not isinstance(payload, dict):
        raise InvalidState("body must be a JSON object")
    reason = payload.get("reason")
    if not isinstance(reason, str) or not reason.strip():
        raise InvalidState("reason is required: say why you flip this route")
    return payload


