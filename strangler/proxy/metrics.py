"""In-process counters with a Prometheus text renderer.

Hot-path updates are increments of cells (one-element lists) that observe() finds with one dict
lookup per request; all formatting happens in render(),
which the admin server calls when scraped, and copying happens in snapshot(), which the dashboard
calls every few seconds to keep a short history (observe() never pays for either).
"""

from __future__ import annotations

from bisect import bisect_left
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from strangler.proxy.types import BreakerState

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
_FIRST_BOUND = LATENCY_BUCKETS[0]
_STATUS_CLASS = ("1xx", "1xx", "2xx", "3xx", "4xx", "5xx")
_OBSERVED_KEPT = 4096  # (route, target, status) entries observe() keeps before starting afresh
_BREAKER_GAUGE = {BreakerState.CLOSED: 0, BreakerState.HALF_OPEN: 1, BreakerState.OPEN: 2}


@dataclass(frozen=True, slots=True)
class Snapshot:
    """Copies of the counters at one instant; two of them give the traffic of the time between."""

    at: float  # the caller's clock (monotonic seconds)
    requests: dict[tuple[str, str], tuple[int, int]]  # route, target -> (all requests, 5xx)
    latency: dict[tuple[str, str], tuple[int, ...]]  # route, target -> counts per bucket (+Inf last)
    shadow: dict[tuple[str, str], int]  # route, compared|diffs|noise|dropped
    fallbacks: dict[str, int]  # route


class Metrics:
    __slots__ = (
        "requests", "latency", "latency_sum", "retries", "fallbacks", "shadow", "refused",
        "connections", "breaker_source", "limited", "tunnels", "tunnel_bytes", "tunnels_closed", "_observed",
    )

    def __init__(self) -> None:
        # route, target, class -> [count]; a cell, so that observe() adds without hashing the key again
        self.requests: dict[tuple[str, str, str], list[int]] = {}
        self.latency: dict[tuple[str, str], list[int]] = {}  # route, target -> counts per bucket (+Inf last)
        self.latency_sum: dict[tuple[str, str], list[float]] = {}  # route, target -> [seconds], a cell
        self.retries: defaultdict[tuple[str, str], int] = defaultdict(int)  # route, target
        self.fallbacks: defaultdict[str, int] = defaultdict(int)  # route
        self.shadow: defaultdict[tuple[str, str], int] = defaultdict(int)  # route, compared|diffs|noise|dropped
        self.refused: defaultdict[int, int] = defaultdict(int)  # status of protocol-level refusals
        self.connections = 0  # open client connections (gauge)
        # WebSocket tunnels (strangler.proxy.tunnels): open per route and side (gauge), bytes per route, side
        # and direction (up: client to upstream), closed per route and who closed them.
        self.tunnels: defaultdict[tuple[str, str], int] = defaultdict(int)
        self.tunnel_bytes: defaultdict[tuple[str, str, str], int] = defaultdict(int)
        self.tunnels_closed: defaultdict[tuple[str, str], int] = defaultdict(int)
        # Turned away by a limit: pipelined | client_connections | shadow_bytes | tunnels | client_tunnels
        self.limited: defaultdict[str, int] = defaultdict(int)
        # Set by the proxy so render() can read live breaker states without the proxy pushing them.
        self.breaker_source: Callable[[], Mapping[str, BreakerState]] | None = None
        # observe()'s cache: (route, target, status) -> the cells it adds to: that class's request count,
        # the latency sum and the bucket counts of (route, target)
        self._observed: dict[tuple[str, str, int], tuple[list[int], list[float], list[int]]] = {}

    def observe(self, route: str, target: str, status: int, seconds: float) -> None:
        # The cells of a (route, target, status) are found once, then reused.
        entry = self._observed.get((route, target, status))
        if entry is None:
            entry = self._observed_entry(route, target, status)
        entry[0][0] += 1
        entry[1][0] += seconds
        # Most answers fall in the first bucket: one float comparison instead of a bisect call.
        entry[2][0 if seconds <= _FIRST_BOUND else bisect_left(LATENCY_BUCKETS, seconds)] += 1

    def _observed_entry(self, route: str, target: str, status: int) -> tuple[list[int], list[float], list[int]]:
        key = (route, target)
        counts = self.latency.get(key)
        if counts is None:
            counts = self.latency[key] = [0] * (len(LATENCY_BUCKETS) + 1)
        seconds = self.latency_sum.setdefault(key, [0.0])
        requests = self.requests.setdefault(
            (route, target, _STATUS_CLASS[status // 100] if 100 <= status < 600 else "5xx"), [0])
        if len(self._observed) >= _OBSERVED_KEPT:
            self._observed.clear()  # many route names over time (table reloads): start afresh
        entry = self._observed[(route, target, status)] = (requests, seconds, counts)
        return entry

    def snapshot(self, at: float) -> Snapshot:
        """O(number of label sets), run on the proxy's loop between requests, never per request."""
        requests: dict[tuple[str, str], tuple[int, int]] = {}
        for (route, target, cls), (n,) in list(self.requests.items()):
            total, errors = requests.get((route, target), (0, 0))
            requests[(route, target)] = (total + n, errors + (n if cls == "5xx" else 0))
        return Snapshot(
            at=at,
            requests=requests,
            latency={key: tuple(counts) for key, counts in list(self.latency.items())},
            shadow=dict(self.shadow),
            fallbacks=dict(self.fallbacks),
        )

    def render(self) -> str:
        out: list[str] = []
        _family(out, "strangler_requests_total", "counter", "Proxied requests by route, target and status class")
        for (route, target, cls), (n,) in sorted(self.requests.items()):
            out.append(f'strangler_requests_total{{route="{route}",target="{target}",status="{cls}"}} {n}')
        _family(out, "strangler_request_duration_seconds", "histogram", "Time to the last response byte")
        for (route, target), counts in sorted(self.latency.items()):
            labels = f'route="{route}",target="{target}"'
            total = 0
            for bound, n in zip((*LATENCY_BUCKETS, None), counts, strict=True):
                total += n
                le = "+Inf" if bound is None else repr(bound)
                out.append(f'strangler_request_duration_seconds_bucket{{{labels},le="{le}"}} {total}')
            out.append(f"strangler_request_duration_seconds_sum{{{labels}}} {self.latency_sum.get((route, target), [0.0])[0]:.6f}")
            out.append(f"strangler_request_duration_seconds_count{{{labels}}} {total}")
        _family(out, "strangler_retries_total", "counter", "Upstream retries")
        for (route, target), n in sorted(self.retries.items()):
            out.append(f'strangler_retries_total{{route="{route}",target="{target}"}} {n}')
        _family(out, "strangler_fallbacks_total", "counter", "Requests served by the monolith after the service failed")
        for route, n in sorted(self.fallbacks.items()):
            out.append(f'strangler_fallbacks_total{{route="{route}"}} {n}')
        _family(out, "strangler_breaker_state", "gauge", "Circuit breaker: 0 closed, 1 half-open, 2 open")
        if self.breaker_source is not None:
            for target, state in sorted(self.breaker_source().items()):
                out.append(f'strangler_breaker_state{{target="{target}"}} {_BREAKER_GAUGE[state]}')
        _family(out, "strangler_shadow_total", "counter", "Shadow comparisons by outcome")
        for (route, kind), n in sorted(self.shadow.items()):
            out.append(f'strangler_shadow_total{{route="{route}",outcome="{kind}"}} {n}')
        _family(out, "strangler_refused_total", "counter", "Requests refused at the protocol level")
        for status, n in sorted(self.refused.items()):
            out.append(f'strangler_refused_total{{status="{status}"}} {n}')
        _family(out, "strangler_limited_total", "counter", "Turned away by a limit: pipelined requests, "
                "connections per client address, shadow mirrors over the byte budget")
        for limit, n in sorted(self.limited.items()):
            out.append(f'strangler_limited_total{{limit="{limit}"}} {n}')
        _family(out, "strangler_client_connections", "gauge", "Open client connections")
        out.append(f"strangler_client_connections {self.connections}")
        _family(out, "strangler_tunnels", "gauge", "Open WebSocket tunnels by route and side")
        for (route, side), n in sorted(self.tunnels.items()):
            out.append(f'strangler_tunnels{{route="{route}",side="{side}"}} {n}')
        _family(out, "strangler_tunnel_bytes_total", "counter",
                "Bytes through tunnels by route, side and direction (up: client to upstream); counted on each sweep")
        for (route, side, direction), n in sorted(self.tunnel_bytes.items()):
            out.append(f'strangler_tunnel_bytes_total{{route="{route}",side="{side}",direction="{direction}"}} {n}')
        _family(out, "strangler_tunnels_closed_total", "counter", "Closed tunnels by route and who closed them")
        for (route, closer), n in sorted(self.tunnels_closed.items()):
            out.append(f'strangler_tunnels_closed_total{{route="{route}",closed_by="{closer}"}} {n}')
        return "\n".join(out) + "\n"


def histogram_quantile(counts: Sequence[int], q: float) -> float | None:
    """The q-quantile (0..1) in seconds of per-bucket counts (LATENCY_BUCKETS, +Inf last), interpolated
    linearly inside the bucket as Prometheus does; None without observations. Observations in +Inf
    report the largest finite bound: the true value is "more than that"."""
    total = sum(counts)
    if total <= 0:
        return None
    rank = q * total
    seen = 0
    for i, n in enumerate(counts):
        if n and seen + n >= rank:
            if i >= len(LATENCY_BUCKETS):
                return LATENCY_BUCKETS[-1]
            lower = LATENCY_BUCKETS[i - 1] if i else 0.0
            return lower + (LATENCY_BUCKETS[i] - lower) * max(0.0, rank - seen) / n
        seen += n
    return LATENCY_BUCKETS[-1]


def _family(out: list[str], name: str, kind: str, help_text: str) -> None:
    out.append(f"# HELP {name} {help_text}")
    out.append(f"# TYPE {name} {kind}")
