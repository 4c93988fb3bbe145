"""Forwarding: what every exchange of one proxy shares, built once by the server."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from strangler.proxy.accesslog import AccessLog
    from strangler.proxy.metrics import Metrics
    from strangler.proxy.shadow import Shadower
    from strangler.proxy.tunnels import Tunnels
    from strangler.proxy.upstreams import Upstreams


class Forwarding:
    """What every exchange of one proxy shares, built once by the server: the upstreams, the
    shadower, the metrics, the access log, the event loop, the retry buffer size and the tunnels."""

    __slots__ = ("upstreams", "shadow", "metrics", "access_log", "retry_buffer_bytes", "loop", "tunnels")

    def __init__(self, upstreams: Upstreams, shadow: Shadower, metrics: Metrics, access_log: AccessLog,
                 retry_buffer_bytes: int, tunnels: Tunnels) -> None:
        self.tunnels = tunnels
        self.upstreams = upstreams
        self.shadow = shadow
        self.metrics = metrics
        self.access_log = access_log
        self.retry_buffer_bytes = retry_buffer_bytes
        self.loop: asyncio.AbstractEventLoop = None  # type: ignore[assignment]  # set when the server starts
