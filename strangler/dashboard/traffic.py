"""A short history of the proxy's counters, for the dashboard's "recent traffic" and its charts.

The data plane only increments counters (strangler.proxy.metrics); this keeps a bounded ring of
snapshots taken every few seconds on the admin side, and turns two of them into the traffic of
the time between: requests and 5xx per target, latency quantiles from the histogram buckets,
shadow outcomes. The counters are this replica's: each replica's dashboard shows its own traffic.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable, Iterable
from typing import Any

from strangler.proxy.metrics import Metrics, Snapshot, histogram_quantile

SAMPLE_EVERY = 2.0  # seconds between snapshots
KEEP = 150  # snapshots kept: five minutes of charts at SAMPLE_EVERY
WINDOW = 60.0  # seconds summed up in the table's numbers
_SHADOW_KINDS = ("compared", "diffs", "noise", "dropped")


class TrafficHistory:
    """Snapshots of one Metrics, oldest first; the current counters always count as the newest."""

    def __init__(self, metrics: Callable[[], Metrics | None], *, every: float = SAMPLE_EVERY,
                 keep: int = KEEP, clock: Callable[[], float] = time.monotonic) -> None:
        self._metrics = metrics
        self.every = every
        self._clock = clock
        self._ring: deque[Snapshot] = deque(maxlen=max(2, keep))
        self._task: asyncio.Task[None] | None = None

    def sample(self) -> Snapshot | None:
        metrics = self._metrics()
        if metrics is None:
            return None
        snap = metrics.snapshot(self._clock())
        self._ring.append(snap)
        return snap

    def start(self) -> None:
        """Sample on the running loop (the proxy's, so reading its counters needs no lock)."""
        if self._task is None:
            self.sample()  # the zero point: traffic from now on is "recent"
            self._task = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.every)
            self.sample()

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
            self._task = None

    def view(self, routes: Iterable[tuple[str, tuple[str, ...]]], window: float = WINDOW) -> dict[str, Any]:
        """Per route: the last `window` seconds by target, and the chart series. `routes` gives each
        route's name with the targets always shown (the monolith and its service)."""
        metrics = self._metrics()
        if metrics is None:
            return {}
        now = metrics.snapshot(self._clock())
        points = [*self._ring, now]
        start = _at_or_before(points, now.at - window)
        return {name: _route_view(name, shown, start, now, points, self.every) for name, shown in routes}


def _at_or_before(points: list[Snapshot], at: float) -> Snapshot:
    """The newest snapshot taken at or before `at`, else the oldest one."""
    chosen = points[0]
    for snap in points:
        if snap.at <= at:
            chosen = snap
        else:
            break
    return chosen


def _route_view(route: str, shown: tuple[str, ...], start: Snapshot, now: Snapshot, points: list[Snapshot],
                every: float) -> dict[str, Any]:
    seen = {t for (r, t) in now.requests if r == route}
    targets = [*shown, *sorted(seen - set(shown))]
    seconds = max(now.at - start.at, 1e-9)
    rows = {target: _target_window(route, target, start, now, seconds) for target in targets}
    total = sum(row["requests"] for row in rows.values())
    for row in rows.values():
        row["share"] = row["requests"] / total if total else 0.0
    shadow = {k: now.shadow.get((route, k), 0) - start.shadow.get((route, k), 0) for k in _SHADOW_KINDS}
    compared = shadow["compared"]
    shadow["diff_rate"] = shadow["diffs"] / compared if compared else None
    shadow["noise_rate"] = shadow["noise"] / compared if compared else None
    return {
        "window_seconds": round(seconds, 1),
        "requests": total,
        "targets": rows,
        "fallbacks": now.fallbacks.get(route, 0) - start.fallbacks.get(route, 0),
        "shadow": shadow,
        "series": _series(route, targets, points, every),
    }


def _target_window(route: str, target: str, start: Snapshot, now: Snapshot, seconds: float) -> dict[str, Any]:
    key = (route, target)
    total0, errors0 = start.requests.get(key, (0, 0))
    total1, errors1 = now.requests.get(key, (0, 0))
    requests, errors = total1 - total0, errors1 - errors0
    before = start.latency.get(key)
    after = now.latency.get(key, ())
    buckets = [b - (before[i] if before else 0) for i, b in enumerate(after)]
    p50, p95 = histogram_quantile(buckets, 0.5), histogram_quantile(buckets, 0.95)
    return {
        "requests": requests,
        "rps": round(requests / seconds, 3),
        "errors_5xx": errors,
        "error_rate": errors / requests if requests else None,
        "p50_ms": round(p50 * 1000, 2) if p50 is not None else None,
        "p95_ms": round(p95 * 1000, 2) if p95 is not None else None,
    }


def _series(route: str, targets: list[str], points: list[Snapshot], every: float) -> dict[str, Any]:
    """Requests/s and 5xx/s per target between consecutive snapshots (the last one is "now")."""
    out: dict[str, dict[str, list[float]]] = {t: {"rps": [], "errors": []} for t in targets}
    for a, b in zip(points, points[1:], strict=False):
        dt = b.at - a.at
        if dt < every / 4:  # "now" right after a sample: too short to be a fair rate
            continue
        for target in targets:
            t0, e0 = a.requests.get((route, target), (0, 0))
            t1, e1 = b.requests.get((route, target), (0, 0))
            out[target]["rps"].append(round((t1 - t0) / dt, 3))
            out[target]["errors"].append(round((e1 - e0) / dt, 3))
    span = points[-1].at - points[0].at if len(points) > 1 else 0.0
    return {"seconds": round(span, 1), "targets": out}
