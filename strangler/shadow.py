"""Shadow traffic: mirror requests to the service after the monolith answered, compare, count.

Mirrors run as background tasks with a concurrency bound, so the client never waits for them;
when the bound is reached the mirror is dropped and counted. Noise is estimated like Twitter's
Diffy: a sample of requests is replayed to the monolith a second time, and fields that differ
monolith-vs-monolith are noise, so a service diff on such a field is not a regression.
"""

from __future__ import annotations

import asyncio
import json
import random
from collections import deque
from typing import TYPE_CHECKING, Any

from strangler.types import MONOLITH, Route
from strangler.upstream import UpstreamConnection, UpstreamError, UpstreamPool

if TYPE_CHECKING:
    from strangler.exchange import Exchange
    from strangler.server import ProxyServer

MAX_BODY = 1024 * 1024
MAX_NOISY_FIELDS = 1000
_MISSING = "<missing>"


class Response:
    __slots__ = ("status", "headers", "body", "truncated")

    def __init__(self, status: int, headers: list[tuple[bytes, bytes]], body: bytes, truncated: bool) -> None:
        self.status = status
        self.headers = headers
        self.body = body
        self.truncated = truncated


class _Collector:
    """A ResponseSink that keeps the (bounded) response in memory."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.done: asyncio.Future[UpstreamError | None] = loop.create_future()
        self.status = 0
        self.headers: list[tuple[bytes, bytes]] = []
        self.chunks: list[bytes] = []
        self.size = 0
        self.conn: UpstreamConnection | None = None

    def up_interim(self, status: int) -> None:
        pass

    def up_head(self, status: int, headers: list[tuple[bytes, bytes]], conn: UpstreamConnection) -> None:
        self.status, self.headers, self.conn = status, headers, conn

    def up_body(self, data: bytes) -> None:
        if self.size <= MAX_BODY:
            self.chunks.append(data)
        self.size += len(data)

    def up_flush(self) -> None:
        pass

    def up_complete(self) -> None:
        if not self.done.done():
            self.done.set_result(None)

    def up_lost(self, error: UpstreamError) -> None:
        if not self.done.done():
            self.done.set_result(error)

    def up_pause_writing(self) -> None:
        pass

    def up_resume_writing(self) -> None:
        pass


async def fetch(pool: UpstreamPool, head: bytes, body: bytes, *, head_request: bool = False) -> Response:
    """Send one buffered request on a pooled connection and read the whole (bounded) response."""
    loop = asyncio.get_running_loop()
    conn = pool.get_idle() or await pool.connect()
    sink = _Collector(loop)
    conn.begin(sink, head_request)
    conn.transport.write(head + body)  # type: ignore[union-attr]
    try:
        error = await asyncio.wait_for(sink.done, pool.target.read_timeout)
    except TimeoutError:
        conn.abort()
        raise UpstreamError("timeout", f"{pool.target.name} did not answer the mirror") from None
    if error is not None:
        raise error
    if conn.reusable():
        pool.release(conn)
    else:
        conn.abort()
    data = b"".join(sink.chunks)
    return Response(sink.status, sink.headers, data[:MAX_BODY], sink.size > MAX_BODY)


class RouteReport:
    __slots__ = ("compared", "diffs", "noise", "dropped", "errors", "samples", "noisy")

    def __init__(self, max_samples: int) -> None:
        self.compared = self.diffs = self.noise = self.dropped = self.errors = 0
        self.samples: deque[dict[str, Any]] = deque(maxlen=max(1, max_samples))
        self.noisy: set[str] = set()  # fields seen differing between two monolith answers

    def as_dict(self) -> dict[str, Any]:
        return {
            "compared": self.compared, "diffs": self.diffs, "noise": self.noise, "dropped": self.dropped,
            "errors": self.errors, "noisy_fields": sorted(self.noisy), "samples": list(self.samples),
        }


class Shadower:
    def __init__(self, server: ProxyServer, concurrency: int) -> None:
        self.server = server
        self.concurrency = concurrency
        self.inflight = 0
        self.reports: dict[str, RouteReport] = {}
        self.tasks: set[asyncio.Task[None]] = set()

    def _report(self, route: Route) -> RouteReport:
        report = self.reports.get(route.name)
        if report is None:
            report = self.reports[route.name] = RouteReport(route.shadow.max_samples)
        return report

    def submit(self, ex: Exchange) -> None:
        """Called when the monolith's answer reached the client; never blocks it."""
        route = ex.decision.route
        report = self._report(route)
        if self.inflight >= self.concurrency or not ex.retained or not ex.body_done or route.service is None:
            report.dropped += 1
            self.server.metrics.shadow[(route.name, "dropped")] += 1
            return
        primary = Response(ex.resp_status, ex.cap_headers, b"".join(ex.capture or ()), ex.cap_bytes > MAX_BODY)
        body = b"".join(ex.body_buf)
        head = ex.head_common + b"Content-Length: %d\r\n" % len(body)
        if not ex.has_host:
            head += self.server.host_headers[route.service]
        mirror_head = head + b"X-Strangler-Shadow: 1\r\n"
        if not ex.idempotent:
            mirror_head += route.shadow.dry_run_header.encode() + b": 1\r\n"  # type: ignore[union-attr]
        self.inflight += 1
        task = self.server.loop.create_task(self._mirror(ex, route, primary, head, mirror_head, body))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def _mirror(
        self, ex: Exchange, route: Route, primary: Response, head: bytes, mirror_head: bytes, body: bytes
    ) -> None:
        server = self.server
        report = self._report(route)
        try:
            service_pool = server.pools[route.service]  # type: ignore[index]
            jobs = [fetch(service_pool, mirror_head + server.target_headers[route.service] + b"\r\n", body,  # type: ignore[index]
                          head_request=ex.head_request)]
            replay = ex.idempotent and random.random() < route.shadow.noise_sample
            if replay:
                jobs.append(fetch(server.pools[MONOLITH], head + server.target_headers[MONOLITH] + b"\r\n", body,
                                  head_request=ex.head_request))
            results = await asyncio.gather(*jobs, return_exceptions=True)
        except Exception:  # noqa: BLE001 - a mirror must never hurt the proxy
            results = [UpstreamError("lost", "mirror failed")]
        finally:
            self.inflight -= 1
        service = results[0]
        if len(results) > 1 and isinstance(results[1], Response):
            report.noisy.update(list(compare(primary, results[1], route)))
            if len(report.noisy) > MAX_NOISY_FIELDS:
                report.noisy = set(list(report.noisy)[:MAX_NOISY_FIELDS])
        metrics = server.metrics.shadow
        report.compared += 1
        metrics[(route.name, "compared")] += 1
        if not isinstance(service, Response):
            report.errors += 1
            report.diffs += 1
            metrics[(route.name, "diffs")] += 1
            report.samples.append({"path": ex.url.decode("latin-1"), "field": "error",
                                   "monolith": primary.status, "service": str(service)})
            return
        diffs = compare(primary, service, route)
        if not diffs:
            return
        real = {k: v for k, v in diffs.items() if k not in report.noisy}
        if not real:
            report.noise += 1
            metrics[(route.name, "noise")] += 1
            return
        report.diffs += 1
        metrics[(route.name, "diffs")] += 1
        path = ex.url.decode("latin-1")
        for field, (mono, svc) in list(real.items())[:5]:
            report.samples.append({"path": path, "field": field, "monolith": mono, "service": svc})

    def report(self) -> dict[str, dict[str, Any]]:
        return {name: r.as_dict() for name, r in self.reports.items()}

    async def close(self) -> None:
        for task in list(self.tasks):
            task.cancel()
        if self.tasks:
            await asyncio.gather(*self.tasks, return_exceptions=True)


def compare(a: Response, b: Response, route: Route) -> dict[str, tuple[Any, Any]]:
    """Differences between two answers as {field: (a value, b value)}; ignored paths are skipped."""
    diffs: dict[str, tuple[Any, Any]] = {}
    if a.status != b.status:
        diffs["status"] = (a.status, b.status)
    if route.shadow.compare_headers:
        ha = _header_map(a.headers)
        hb = _header_map(b.headers)
        for name in route.shadow.compare_headers:
            key = name.lower()
            if ha.get(key) != hb.get(key):
                diffs[f"header:{key}"] = (ha.get(key), hb.get(key))
    if a.truncated or b.truncated:
        return diffs  # bodies too large to compare fairly
    if a.body == b.body:
        return diffs
    ja, jb = _json(a.body), _json(b.body)
    if ja is _MISSING or jb is _MISSING:
        diffs["body"] = (_preview(a.body), _preview(b.body))
        return diffs
    ignore = [tuple(p.split(".")) for p in route.shadow.ignore_paths]
    fa, fb = flatten(ja), flatten(jb)
    for key in fa.keys() | fb.keys():
        va, vb = fa.get(key, _MISSING), fb.get(key, _MISSING)
        if va != vb and not _ignored(key, ignore):
            diffs[key or "body"] = (va, vb)
    return diffs


def flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    """{"a": {"b": [1]}} -> {"a.b.0": 1}; empty containers are leaves."""
    out: dict[str, Any] = {}
    if isinstance(value, dict) and value:
        for k, v in value.items():
            out.update(flatten(v, f"{prefix}.{k}" if prefix else str(k)))
    elif isinstance(value, list) and value:
        for i, v in enumerate(value):
            out.update(flatten(v, f"{prefix}.{i}" if prefix else str(i)))
    else:
        out[prefix] = value
    return out


def _ignored(key: str, patterns: list[tuple[str, ...]]) -> bool:
    parts = key.split(".")
    for pattern in patterns:
        if len(pattern) <= len(parts) and all(p == "*" or p == k for p, k in zip(pattern, parts, strict=False)):
            return True  # a pattern also covers everything below it
    return False


def _header_map(headers: list[tuple[bytes, bytes]]) -> dict[str, str]:
    return {n.decode("latin-1").lower(): v.decode("latin-1") for n, v in headers}


def _json(body: bytes) -> Any:
    try:
        return json.loads(body)
    except ValueError:
        return _MISSING


def _preview(body: bytes) -> str:
    return body[:200].decode("utf-8", "replace")
