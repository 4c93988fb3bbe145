"""Shadow traffic: mirror requests to the service after the monolith answered, compare, count.

Mirrors start once the client has the monolith's full answer and run on upstream callbacks with
a concurrency bound, so the client never waits for them; past the bound, or while the proxy's
core is saturated, a mirror is dropped and counted. Every copy kept for a mirror (the request
body and the primary's answer while the exchange runs, the mirror's payloads and answers after)
is charged to one byte budget for the whole proxy: a mirror that would go past it is shed and
counted (strangler_limited_total{limit="shadow_bytes"}). Noise is estimated like Twitter's
Diffy: a sample of requests is replayed to the monolith a second time, and fields that differ
monolith-vs-monolith are noise, so a service diff on such a field is not a regression.

A mirror is built on the loop's turn after the primary's end (submit_soon): uvloop sends what a
transport was given at the end of each turn, so building it in the same turn would hold back the
primary's answer by the mirror's cost.
"""

from __future__ import annotations

import logging
import random
from collections import deque
from typing import TYPE_CHECKING, Any, Protocol

from strangler.proxy import tracing
from strangler.proxy.config import SHADOW_BUDGET_BYTES
from strangler.proxy.diff import MAX_BODY, Response, compare
from strangler.proxy.fetch import Fetch
from strangler.proxy.types import MONOLITH, SAFE_METHODS, Decision, Route

if TYPE_CHECKING:
    from strangler.proxy.metrics import Metrics
    from strangler.proxy.upstreams import Upstreams

log = logging.getLogger("strangler.shadow")
MAX_NOISY_FIELDS = 1000
RECENT_DIFFS = 20  # requests kept per route for the dashboard: path, status pair, differing fields


class MirrorSource(Protocol):
    """What a mirror is built from: a finished exchange (strangler.proxy.exchange.Exchange) whose
    request body and primary answer were kept."""

    decision: Decision
    method: str
    url: bytes
    head_common: bytes  # the request head as sent upstream, without target headers and framing
    has_host: bool
    head_request: bool
    retained: bool  # body_buf still holds the whole request body
    body_done: bool
    body_buf: list[bytes]
    resp_status: int
    cap_headers: list[tuple[bytes, bytes]]
    capture: list[bytes] | None  # the primary's body, up to MAX_BODY
    cap_bytes: int


class MirrorJob:
    """The mirror to the service and, for a noise sample, the replay to the monolith."""

    __slots__ = ("route", "path", "primary", "service", "replay", "waiting", "span", "held")

    def __init__(self, route: Route, path: bytes, primary: Response) -> None:
        self.span: Any = None  # the mirror's span when tracing is on (strangler.proxy.tracing)
        self.route = route
        self.path = path
        self.primary = primary
        self.service: Fetch | None = None
        self.replay: Fetch | None = None
        self.waiting = 0
        self.held = 0  # bytes charged to the shadow budget for the primary's answer and the payloads


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

    def __init__(self, upstreams: Upstreams, metrics: Metrics, concurrency: int, shed: bool = True,
                 budget: int = SHADOW_BUDGET_BYTES) -> None:
        self.upstreams = upstreams
        self.metrics = metrics
        self.concurrency = concurrency
        self.shedding = shed
        self.inflight: set[Fetch] = set()
        self.jobs = 0
        self.shed = 0.0  # share of mirrors dropped because the proxy is saturated
        self.reports: dict[str, RouteReport] = {}
        self.budget = budget  # bytes all mirrors together may hold
        self.held = 0
        self.closed = False

    def hold(self, n: int) -> bool:
        """Charge `n` bytes kept for a mirror to the budget; False, charging nothing, past it."""
        if self.held + n > self.budget:
            return False
        self.held += n
        return True

    def release(self, n: int) -> None:
        self.held -= n

    def over_budget(self, route: Route) -> None:
        """A mirror shed because the copies it needs would go past the byte budget."""
        self.metrics.limited["shadow_bytes"] += 1
        self._dropped(route)

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
        if self.held >= self.budget:
            self.over_budget(route)
            return False
        if self.shed and random.random() < self.shed:
            self._dropped(route)
            return False
        return True

    def drop(self, route: Route) -> None:
        """A mirror given up before it started (its request body could not all be kept)."""
        self._dropped(route)

    def _dropped(self, route: Route) -> None:
        self._report(route).dropped += 1
        self.metrics.shadow[(route.name, "dropped")] += 1

    def submit_soon(self, ex: MirrorSource) -> None:
        """From the primary's end: submit() on the loop's next turn, once its answer has gone out."""
        self.upstreams.loop.call_soon(self.submit, ex)

    def submit(self, ex: MirrorSource) -> None:
        """Called when the monolith's answer reached the client; never blocks it."""
        route = ex.decision.route
        service = route.service
        if (self.jobs >= self.concurrency or not ex.retained or not ex.body_done or service is None
                or self.closed):
            self._dropped(route)
            return
        upstreams = self.upstreams
        primary = Response(ex.resp_status, ex.cap_headers, b"".join(ex.capture or ()), ex.cap_bytes > MAX_BODY)
        body = b"".join(ex.body_buf)
        head = ex.head_common + b"Content-Length: %d\r\n" % len(body)
        if not ex.has_host:
            head += upstreams.host_headers[service]
        job = MirrorJob(route, ex.url, primary)
        job.held = len(primary.body) + len(body) + len(head) + upstreams.header_bytes
        if not self.hold(job.held):
            self.over_budget(route)
            return
        if tracing.TRACER is not None:
            job.span, head = tracing.TRACER.mirror(ex, head)
        mirror_head = head + b"X-Strangler-Shadow: 1\r\n"
        safe = ex.method in SAFE_METHODS
        if not safe:  # routing.decide mirrors anything else only when the route names a dry-run header
            mirror_head += route.shadow.dry_run_header.encode() + b": 1\r\n"  # type: ignore[union-attr]
        job.service = Fetch(upstreams.pools[service], mirror_head + upstreams.target_headers[service] + b"\r\n" + body,
                            ex.head_request, lambda f: self._fetched(job, f), self)
        fetches = [job.service]
        if safe and route.shadow.noise_sample and random.random() < route.shadow.noise_sample:
            replay = head + upstreams.target_headers[MONOLITH] + b"\r\n" + body
            if self.hold(len(replay)):
                job.held += len(replay)
                job.replay = Fetch(upstreams.pools[MONOLITH], replay, ex.head_request, lambda f: self._fetched(job, f), self)
            fetches.append(job.replay)
        job.waiting = len(fetches)
        self.jobs += 1
        for fetch in fetches:
            self.inflight.add(fetch)
            fetch.start(upstreams.loop)

    def _fetched(self, job: MirrorJob, fetch: Fetch) -> None:
        self.inflight.discard(fetch)
        job.waiting -= 1
        if job.waiting == 0:
            self.jobs -= 1
            service, replay = job.service, job.replay
            held = job.held
            shed = False
            if service is not None:
                held += service.held
                shed = service.shed
            if replay is not None:
                held += replay.held
                shed = shed or replay.shed
            self.release(held)
            if job.span is not None:
                tracing.mirror_done(job.span, service)
            if shed:
                self.over_budget(job.route)  # an answer too big for the budget: nothing to compare
                return
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
        metrics = self.metrics.shadow
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
        self.closed = True  # a mirror submitted from now on is dropped
        for fetch in list(self.inflight):
            fetch.abort()
