"""Shadow traffic: mirror requests to the service after the monolith answered, compare, count.

Mirrors start once the client has the monolith's full answer and run on upstream callbacks with
a concurrency bound, so the client never waits for them; past the bound, or while the proxy's
core is saturated, a mirror is dropped and counted. Noise is estimated like Twitter's
Diffy: a sample of requests is replayed to the monolith a second time, and fields that differ
monolith-vs-monolith are noise, so a service diff on such a field is not a regression.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from strangler import tracing
from strangler.diff import MAX_BODY, Response, compare
from strangler.types import MONOLITH, Route
from strangler.upstream import UpstreamConnection, UpstreamError, UpstreamPool

if TYPE_CHECKING:
    from strangler.exchange import Exchange
    from strangler.server import ProxyServer

log = logging.getLogger("strangler.shadow")
MAX_NOISY_FIELDS = 1000
RECENT_DIFFS = 20  # requests kept per route for the dashboard: path, status pair, differing fields


class Fetch:
    """One buffered request to an upstream, driven by callbacks (a ResponseSink); the response is
    kept up to MAX_BODY. `on_done(fetch)` runs once, with `response` or `error` set."""

    __slots__ = ("pool", "payload", "head_request", "on_done", "conn", "status", "headers", "chunks", "size",
                 "deadline", "response", "error", "finished", "connecting")

    def __init__(self, pool: UpstreamPool, payload: bytes, head_request: bool,
                 on_done: Callable[[Fetch], None]) -> None:
        self.pool = pool
        self.payload = payload
        self.head_request = head_request
        self.on_done = on_done
        self.conn: UpstreamConnection | None = None
        self.status = 0
        self.headers: list[tuple[bytes, bytes]] = []
        self.chunks: list[bytes] = []
        self.size = 0
        self.deadline = 0.0
        self.response: Response | None = None
        self.error: Exception | None = None
        self.finished = False
        self.connecting: asyncio.Task[UpstreamConnection] | None = None

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        conn = self.pool.get_idle()
        if conn is not None:
            self._send(conn, loop)
            return
        self.connecting = task = loop.create_task(self.pool.connect())  # keep a reference: tasks are weak
        task.add_done_callback(lambda t: self._connected(t, loop))

    def _connected(self, task: asyncio.Task[UpstreamConnection], loop: asyncio.AbstractEventLoop) -> None:
        self.connecting = None
        if task.cancelled():
            self._done(UpstreamError("aborted", "mirror cancelled"))
        elif task.exception() is not None:
            self._done(task.exception())  # type: ignore[arg-type]
        elif self.finished:
            task.result().abort()
        else:
            self._send(task.result(), loop)

    def _send(self, conn: UpstreamConnection, loop: asyncio.AbstractEventLoop) -> None:
        self.conn = conn
        conn.begin(self, self.head_request)
        conn.transport.write(self.payload)  # type: ignore[union-attr]
        self.deadline = loop.time() + self.pool.target.read_timeout

    def expire(self, now: float) -> None:
        if self.deadline and now >= self.deadline and not self.finished:
            self.abort()

    def abort(self) -> None:
        if self.conn is not None:
            self.conn.abort()
        self._done(UpstreamError("timeout", f"{self.pool.target.name} did not answer the mirror"))

    def _done(self, error: Exception | None) -> None:
        if not self.finished:
            self.finished = True
            self.error = error
            self.on_done(self)

    # -- ResponseSink -------------------------------------------------------------------------------
    def up_interim(self, status: int) -> None:
        pass

    def up_head(self, status: int, headers: list[tuple[bytes, bytes]], conn: UpstreamConnection) -> None:
        self.status, self.headers = status, headers

    def up_body(self, data: bytes) -> None:
        if self.size <= MAX_BODY:
            self.chunks.append(data)
        self.size += len(data)

    def up_flush(self) -> None:
        pass

    def up_complete(self) -> None:
        conn = self.conn
        if conn is not None:
            if conn.reusable():
                conn.pool.release(conn)
            else:
                conn.abort()
        data = b"".join(self.chunks)
        self.response = Response(self.status, self.headers, data[:MAX_BODY], self.size > MAX_BODY)
        self._done(None)

    def up_lost(self, error: UpstreamError) -> None:
        self._done(error)

    def up_pause_writing(self) -> None:
        pass

    def up_resume_writing(self) -> None:
        pass


class MirrorJob:
    """The mirror to the service and, for a noise sample, the replay to the monolith."""

    __slots__ = ("route", "path", "primary", "service", "replay", "waiting", "span")

    def __init__(self, route: Route, path: bytes, primary: Response) -> None:
        self.span: Any = None  # the mirror's span when tracing is on (strangler.tracing)
        self.route = route
        self.path = path
        self.primary = primary
        self.service: Fetch | None = None
        self.replay: Fetch | None = None
        self.waiting = 0


class RouteReport:
    __slots__ = ("compared", "diffs", "noise", "dropped", "errors", "samples", "noisy", "recent")

    def __init__(self, max_samples: int) -> None:
        self.compared = self.diffs = self.noise = self.dropped = self.errors = 0
        self.samples: deque[dict[str, Any]] = deque(maxlen=max(1, max_samples))
        self.noisy: set[str] = set()  # fields seen differing between two monolith answers
        self.recent: deque[dict[str, Any]] = deque(maxlen=RECENT_DIFFS)  # one entry per differing request

    def as_dict(self) -> dict[str, Any]:
        return {
            "compared": self.compared, "diffs": self.diffs, "noise": self.noise, "dropped": self.dropped,
            "errors": self.errors, "noisy_fields": sorted(self.noisy), "samples": list(self.samples),
            "recent": list(self.recent),
        }


class Shadower:
    """Mirrors are best effort: bounded in number, and shed first when the proxy's core is busy.

    A mirror costs about half a proxied request, so mirroring everything on a saturated proxy
    would slow every client down. The server reports its CPU utilisation every sweep tick; above
    SHED_ABOVE almost all mirrors are dropped, below SHED_BELOW the share dropped falls again.
    """

    SHED_ABOVE = 0.85
    SHED_BELOW = 0.6
    SHED_STEP = 0.25
    SHED_MAX = 0.99

    def __init__(self, server: ProxyServer, concurrency: int, shed: bool = True) -> None:
        self.server = server
        self.concurrency = concurrency
        self.shedding = shed
        self.inflight: set[Fetch] = set()
        self.jobs = 0
        self.shed = 0.0  # share of mirrors dropped because the proxy is saturated
        self.reports: dict[str, RouteReport] = {}

    def adjust(self, utilisation: float) -> None:
        """Back off at once when the core is saturated, come back step by step when it is not."""
        if not self.shedding:
            return
        if utilisation > self.SHED_ABOVE:
            self.shed = self.SHED_MAX
        elif utilisation < self.SHED_BELOW:
            self.shed = max(0.0, self.shed - self.SHED_STEP)

    def _report(self, route: Route) -> RouteReport:
        report = self.reports.get(route.name)
        if report is None:
            report = self.reports[route.name] = RouteReport(route.shadow.max_samples)
        return report

    def admit(self, route: Route) -> bool:
        """Asked when a mirrored request starts: shed ones skip capturing the answer altogether."""
        if self.shed and random.random() < self.shed:
            self._dropped(route)
            return False
        return True

    def _dropped(self, route: Route) -> None:
        self._report(route).dropped += 1
        self.server.metrics.shadow[(route.name, "dropped")] += 1

    def submit(self, ex: Exchange) -> None:
        """Called when the monolith's answer reached the client; never blocks it."""
        route = ex.decision.route
        service = route.service
        if self.jobs >= self.concurrency or not ex.retained or not ex.body_done or service is None:
            self._dropped(route)
            return
        server = self.server
        primary = Response(ex.resp_status, ex.cap_headers, b"".join(ex.capture or ()), ex.cap_bytes > MAX_BODY)
        body = b"".join(ex.body_buf)
        head = ex.head_common + b"Content-Length: %d\r\n" % len(body)
        if not ex.has_host:
            head += server.host_headers[service]
        job = MirrorJob(route, ex.url, primary)
        if tracing.TRACER is not None:
            job.span, head = tracing.TRACER.mirror(ex, head)
        mirror_head = head + b"X-Strangler-Shadow: 1\r\n"
        if not ex.idempotent:
            mirror_head += route.shadow.dry_run_header.encode() + b": 1\r\n"  # type: ignore[union-attr]
        job.service = Fetch(server.pools[service], mirror_head + server.target_headers[service] + b"\r\n" + body,
                            ex.head_request, lambda f: self._fetched(job, f))
        fetches = [job.service]
        if ex.idempotent and route.shadow.noise_sample and random.random() < route.shadow.noise_sample:
            job.replay = Fetch(server.pools[MONOLITH], head + server.target_headers[MONOLITH] + b"\r\n" + body,
                               ex.head_request, lambda f: self._fetched(job, f))
            fetches.append(job.replay)
        job.waiting = len(fetches)
        self.jobs += 1
        for fetch in fetches:
            self.inflight.add(fetch)
            fetch.start(server.loop)

    def _fetched(self, job: MirrorJob, fetch: Fetch) -> None:
        self.inflight.discard(fetch)
        job.waiting -= 1
        if job.waiting == 0:
            self.jobs -= 1
            if job.span is not None:
                tracing.mirror_done(job.span, job.service)
            try:
                self._record(job)
            except Exception:  # a comparison bug must never hurt the proxy
                log.exception("shadow comparison failed")

    def _record(self, job: MirrorJob) -> None:
        route, primary = job.route, job.primary
        report = self._report(route)
        if job.replay is not None and job.replay.response is not None:
            report.noisy.update(compare(primary, job.replay.response, route))
            if len(report.noisy) > MAX_NOISY_FIELDS:
                report.noisy = set(sorted(report.noisy)[:MAX_NOISY_FIELDS])
        metrics = self.server.metrics.shadow
        report.compared += 1
        metrics[(route.name, "compared")] += 1
        service = job.service.response if job.service is not None else None
        if service is None:
            report.errors += 1
            report.diffs += 1
            metrics[(route.name, "diffs")] += 1
            report.samples.append({"path": job.path.decode("latin-1"), "field": "error", "monolith": primary.status,
                                   "service": str(job.service.error if job.service is not None else "")})
            report.recent.append({"path": job.path.decode("latin-1"), "status": [primary.status, None],
                                  "fields": [], "error": report.samples[-1]["service"]})
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
        path = job.path.decode("latin-1")
        for field, (mono, svc) in list(real.items())[:5]:
            report.samples.append({"path": path, "field": field, "monolith": mono, "service": svc})
        report.recent.append({"path": path, "status": [primary.status, service.status],
                              "fields": sorted(real)[:10]})

    def check(self, now: float) -> None:
        """From the server's sweep: mirrors past their read timeout are abandoned."""
        for fetch in list(self.inflight):
            fetch.expire(now)

    def report(self) -> dict[str, dict[str, Any]]:
        return {name: r.as_dict() for name, r in self.reports.items()}

    async def close(self) -> None:
        for fetch in list(self.inflight):
            fetch.abort()
