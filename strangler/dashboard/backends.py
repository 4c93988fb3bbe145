"""What each service of the cutover holds that needs a person: sync conflicts per context, dead
letters, outbox rows not yet published. The admin side polls every target's kit status
(``/internal/strangler/status``, strangler.django.status) every few seconds, signed with the
``[admin] status_credential`` of the route table, and keeps the last answer of each, for the
dashboard's counts and the admin /metrics. A target that does not answer shows its error, never a
stale zero. Without a status credential nothing is polled.

A poll is one HTTP/1.0 GET on its own connection (no pool, no keep-alive): a handful per minute,
bounded in size and time, off the data plane's path.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from strangler.proxy.credentials import HEADER, CredentialSource, Keyring

STATUS_PATH = "/internal/strangler/status"
POLL_EVERY = 10.0  # seconds between polls of every target
POLL_TIMEOUT = 5.0  # seconds for one poll, connect to last byte (a busy gunicorn queues it)
MAX_STATUS_BYTES = 64 * 1024
_COUNTS = ("dead_letters", "outbox_pending")


@dataclass(slots=True)
class BackendStatus:
    ok: bool
    at: float  # time.time() of the answer (or failure)
    counts: dict[str, Any] = field(default_factory=dict)  # the service's document as it sent it
    error: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "at": self.at, "error": self.error, **self.counts}


class Backends:
    """The last kit status of each target, refreshed on the running loop."""

    def __init__(self, targets: Mapping[str, tuple[str, int]], credentials: Mapping[str, CredentialSource] | None,
                 *, every: float = POLL_EVERY, timeout: float = POLL_TIMEOUT) -> None:
        """``credentials``: per target, minted for its audience; a target without one is not polled."""
        self._credentials = dict(credentials or {})
        self.targets = {name: hp for name, hp in targets.items() if name in self._credentials}
        self.every = every
        self.timeout = timeout
        self.latest: dict[str, BackendStatus] = {}
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self._task is None and self.targets:
            self._task = asyncio.get_running_loop().create_task(self._run())

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
            self._task = None

    async def _run(self) -> None:
        while True:
            await self.poll()
            await asyncio.sleep(self.every)

    async def poll(self) -> None:
        names = list(self.targets)
        results = await asyncio.gather(*(self._poll_one(name) for name in names))
        self.latest.update(zip(names, results, strict=True))

    async def fetch(self, name: str) -> BackendStatus:
        """One poll of ``name`` now (the flip gate's question); a target not polled is an error."""
        if name not in self.targets:
            return BackendStatus(False, time.time(), error=f"no status credential for target {name!r}")
        return await self._poll_one(name)

    async def _poll_one(self, name: str) -> BackendStatus:
        host, port = self.targets[name]
        try:
            status, body = await asyncio.wait_for(self._get(host, port, self._credentials[name]), self.timeout)
        except TimeoutError:
            return BackendStatus(False, time.time(), error=f"no answer in {self.timeout:g} s")
        except (OSError, ValueError) as exc:
            return BackendStatus(False, time.time(), error=f"{type(exc).__name__}: {exc}")
        if status != 200:
            return BackendStatus(False, time.time(), error=f"HTTP {status} from {STATUS_PATH}")
        try:
            document = json.loads(body)
        except ValueError:
            return BackendStatus(False, time.time(), error="the status is not JSON")
        if not isinstance(document, dict):
            return BackendStatus(False, time.time(), error="the status is not a JSON object")
        return BackendStatus(True, time.time(), counts=document)

    async def _get(self, host: str, port: int, credentials: CredentialSource) -> tuple[int, bytes]:
        reader, writer = await asyncio.open_connection(host, port)
        try:
            writer.write(f"GET {STATUS_PATH} HTTP/1.0\r\nHost: {host}:{port}\r\n"
                         f"{HEADER}: {credentials.current()}\r\nAccept: application/json\r\n\r\n".encode())
            await writer.drain()
            raw = await reader.read(MAX_STATUS_BYTES + 1)
            while raw and len(raw) <= MAX_STATUS_BYTES and (more := await reader.read(MAX_STATUS_BYTES + 1)):
                raw += more
        finally:
            writer.close()
        if len(raw) > MAX_STATUS_BYTES:
            raise ValueError(f"the status is larger than {MAX_STATUS_BYTES} bytes")
        head, sep, body = raw.partition(b"\r\n\r\n")
        parts = head.split(b"\r\n", 1)[0].split(b" ")
        if not sep or len(parts) < 2 or not parts[1].isdigit():
            raise ValueError("not an HTTP response")
        return int(parts[1]), body

    def view(self) -> dict[str, dict[str, Any]]:
        """Per polled target: ok, when, the error or the counts."""
        return {name: self.latest[name].as_dict() for name in self.targets if name in self.latest}

    def metrics_lines(self) -> list[str]:
        """Prometheus text lines of the last answers (nothing for a target not polled yet)."""
        polled = [(name, self.latest[name]) for name in sorted(self.targets) if name in self.latest]
        if not polled:
            return []
        lines = ["# HELP strangler_backend_status_up 1 when the target's kit status answered at the last poll",
                 "# TYPE strangler_backend_status_up gauge"]
        lines += [f'strangler_backend_status_up{{target="{name}"}} {int(s.ok)}' for name, s in polled]
        for key in _COUNTS:
            lines += [f"# HELP strangler_backend_{key} The target's {key.replace('_', ' ')} at the last poll",
                      f"# TYPE strangler_backend_{key} gauge"]
            lines += [f'strangler_backend_{key}{{target="{name}"}} {int(s.counts[key])}'
                      for name, s in polled if s.ok and isinstance(s.counts.get(key), int)]
        lines += ["# HELP strangler_backend_sync_conflicts Sync conflicts recorded on the target, per context",
                  "# TYPE strangler_backend_sync_conflicts gauge"]
        for name, s in polled:
            conflicts = s.counts.get("conflicts") if s.ok else None
            if isinstance(conflicts, Mapping):
                lines += [f'strangler_backend_sync_conflicts{{target="{name}",context="{_label(c)}"}} {int(n)}'
                          for c, n in sorted(conflicts.items()) if isinstance(n, int)]
        lines += ["# HELP strangler_backend_route_store_read_failures Failed reads of the strangler's store by the "
                  "target's route follower (in the process that answered)",
                  "# TYPE strangler_backend_route_store_read_failures counter"]
        for name, s in polled:
            followers = s.counts.get("route_followers") if s.ok else None
            if isinstance(followers, Mapping):
                lines += [f'strangler_backend_route_store_read_failures{{target="{name}",route="{_label(r)}"}} '
                          f'{int(h["read_failures"])}' for r, h in sorted(followers.items())
                          if isinstance(h, Mapping) and isinstance(h.get("read_failures"), int)]
        return lines


def backends_from(proxy: Any, config: Any = None) -> Backends:
    """The poller of a running proxy's targets (or of a route table's, ``config``), with the table's
    status credential (if any)."""
    config = config if config is not None else getattr(proxy, "config", None)
    caller, secret = getattr(config, "status_caller", None), getattr(config, "status_secret", None)
    keys = getattr(config, "status_keys", None) or {}
    table = getattr(proxy, "table", None) or getattr(config, "table", None)
    targets = {t.name: (t.host, t.port) for t in table.targets.values()} if table is not None else {}
    credentials: dict[str, CredentialSource] = {}
    if caller and (secret or keys) and table is not None:
        ring = Keyring(root=secret, pairs=keys)
        for target in table.targets.values():
            audience = target.credential_audience or target.name.lower()  # whom the target answers to
            if ring.key(caller, audience) is not None:
                credentials[target.name] = CredentialSource(ring, caller, audience=audience)
    return Backends(targets, credentials)


def _label(value: object) -> str:
    return str(value).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
