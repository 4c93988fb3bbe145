"""Tunnels: the open WebSocket tunnels of one proxy (strangler.proxy.tunnel), and what concerns them all.

The caps (handshakes under way count, so a burst cannot overshoot), the server's periodic sweep
(each tunnel's idle timeout and maximum lifetime, due drains; no timer per tunnel), the metrics
and one access-log line per closed tunnel. An open tunnel stays on the side it was opened on;
``drain`` closes, after a grace period, the tunnels of a route that its state then sends
elsewhere, with close code 1012 so the clients reconnect to the new side.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TYPE_CHECKING

from strangler.proxy.routing import side_for_bucket
from strangler.proxy.upgrade import CLOSE_GOING_AWAY, CLOSE_SERVICE_RESTART, Closer, admission

if TYPE_CHECKING:
    from strangler.proxy.accesslog import AccessLog
    from strangler.proxy.metrics import Metrics
    from strangler.proxy.tunnel import Tunnel
    from strangler.proxy.types import Limits, Route


class Tunnels:
    """The open tunnels of one proxy, their caps, sweep, drains, metrics and log lines."""

    __slots__ = ("limits", "metrics", "access_log", "loop", "open", "reserved", "per_client", "drains")

    def __init__(self, limits: Limits, metrics: Metrics, access_log: AccessLog) -> None:
        self.limits = limits
        self.metrics = metrics
        self.access_log = access_log
        self.loop: asyncio.AbstractEventLoop = None  # type: ignore[assignment]  # set when the server starts
        self.open: set[Tunnel] = set()
        self.reserved = 0  # tunnels open plus handshakes under way
        self.per_client: dict[str, int] = {}
        self.drains: dict[str, float] = {}  # route -> loop time its tunnels on the old side close

    def reserve(self, client_ip: str) -> str | None:
        """Count a handshake against the caps; the limit it would exceed, or None when counted."""
        held = self.per_client.get(client_ip, 0)
        hit = admission(self.reserved, held, self.limits)
        if hit is not None:
            self.metrics.limited[hit] += 1
            return hit
        self.reserved += 1
        self.per_client[client_ip] = held + 1
        return None

    def release(self, client_ip: str) -> None:
        """A handshake that did not become a tunnel, or a tunnel that ended."""
        self.reserved -= 1
        held = self.per_client.get(client_ip, 0)
        if held > 1:
            self.per_client[client_ip] = held - 1
        else:
            self.per_client.pop(client_ip, None)

    def opened(self, tunnel: Tunnel) -> None:
        self.open.add(tunnel)
        self.metrics.tunnels[(tunnel.route.name, tunnel.side.value)] += 1

    def ended(self, tunnel: Tunnel) -> None:
        self.open.discard(tunnel)
        self.release(tunnel.client_ip)
        key = (tunnel.route.name, tunnel.side.value)
        self.metrics.tunnels[key] -= 1
        self._count_bytes(tunnel)
        closer = tunnel.closer or Closer.CLIENT
        self.metrics.tunnels_closed[(tunnel.route.name, closer.value)] += 1
        if self.access_log.enabled:
            self.access_log.write_tunnel(
                tunnel.request_id, tunnel.route.name, tunnel.side.value, tunnel.target,
                self.loop.time() - tunnel.opened, tunnel.up, tunnel.down, closer.value,
            )

    def _count_bytes(self, tunnel: Tunnel) -> None:
        bytes_ = self.metrics.tunnel_bytes
        route, side = tunnel.route.name, tunnel.side.value
        if tunnel.up != tunnel.counted_up:
            bytes_[(route, side, "up")] += tunnel.up - tunnel.counted_up
            tunnel.counted_up = tunnel.up
        if tunnel.down != tunnel.counted_down:
            bytes_[(route, side, "down")] += tunnel.down - tunnel.counted_down
            tunnel.counted_down = tunnel.down

    def drain(self, route: str, grace: float) -> int:
        """After `grace` seconds, close with code 1012 the tunnels of `route` that its state at that
        moment sends to the other side (canary cohorts included; override tunnels stay). Returns
        how many tunnels the route has open now."""
        due = self.loop.time() + max(0.0, grace)
        self.drains[route] = min(due, self.drains.get(route, due))
        return sum(1 for t in self.open if t.route.name == route)

    def sweep(self, now: float, current: Callable[[str], Route | None]) -> None:
        """From the server's sweep: due drains against the current routes, then each tunnel's clocks."""
        if self.drains:
            due = [name for name, at in self.drains.items() if now >= at]
            for name in due:
                del self.drains[name]
                route = current(name)
                for tunnel in list(self.open):
                    if (route is not None and tunnel.route.name == name and not tunnel.pinned
                            and side_for_bucket(route, tunnel.bucket) is not tunnel.side):
                        tunnel.close(Closer.DRAIN, CLOSE_SERVICE_RESTART)
        for tunnel in list(self.open):
            tunnel.check(now)
            self._count_bytes(tunnel)

    def close_all(self) -> None:
        """The proxy stops: every tunnel is told so (close code 1001)."""
        for tunnel in list(self.open):
            tunnel.close(Closer.LIMIT, CLOSE_GOING_AWAY)
