"""The per-request access log: one JSON line per request on the `strangler.access` logger.

Going through a LogRecord and a flushing StreamHandler for every request costs more CPU than
proxying the request. Like nginx's `access_log ... buffer=`, the proxy therefore installs a
buffered handler (stderr, flushed every 64 KiB and on each sweep tick) when the logger has no
handler of its own, and hands lines straight to it. Attach your own handler to
`strangler.access` before the proxy starts to get ordinary LogRecords instead.
"""

from __future__ import annotations

import logging
import sys
from json.encoder import encode_basestring_ascii as _json_str
from typing import TextIO

LOGGER = logging.getLogger("strangler.access")


class BufferedLineHandler(logging.Handler):
    def __init__(self, stream: TextIO | None = None, max_bytes: int = 64 * 1024) -> None:
        super().__init__(logging.INFO)
        self.stream = stream if stream is not None else sys.stderr
        self.max_bytes = max_bytes
        self.lines: list[str] = []
        self.size = 0

    def append(self, line: str) -> None:
        self.lines.append(line)
        self.size += len(line)
        if self.size >= self.max_bytes:
            self.flush()

    def emit(self, record: logging.LogRecord) -> None:
        self.append(record.getMessage())

    def flush(self) -> None:
        if self.lines:
            lines, self.lines, self.size = self.lines, [], 0
            try:
                self.stream.write("\n".join(lines) + "\n")
                self.stream.flush()
            except (OSError, ValueError):
                pass


class AccessLog:
    __slots__ = ("enabled", "_fast", "_installed")

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self._fast: BufferedLineHandler | None = None
        self._installed = False

    def start(self) -> None:
        if self.enabled and not LOGGER.handlers:
            self._fast = BufferedLineHandler()
            LOGGER.addHandler(self._fast)
            LOGGER.setLevel(logging.INFO)
            LOGGER.propagate = False
            self._installed = True

    def stop(self) -> None:
        self.flush()
        if self._installed and self._fast is not None:
            LOGGER.removeHandler(self._fast)
            LOGGER.propagate = True
            self._installed = False
        self._fast = None

    def flush(self) -> None:
        if self._fast is not None:
            self._fast.flush()

    def write(
        self, request_id: bytes, method: str, path: bytes, route: str, side: str, target: str, status: int,
        duration: float, retries: int, fallback: bool, reason: str,
    ) -> None:
        fast = self._fast
        if fast is None and not LOGGER.isEnabledFor(logging.INFO):
            return
        # Hand-built JSON: request ids are validated [A-Za-z0-9._-], methods are tokens, route
        # names are checked by config; only the path needs escaping.
        line = (
            f'{{"request_id":"{request_id.decode()}","method":"{method}","path":{_json_str(path.decode("latin-1"))},'
            f'"route":"{route}","side":"{side}","target":"{target}","status":{status},"duration_ms":{duration * 1000:.3f},'
            f'"retries":{retries},"fallback":{"true" if fallback else "false"},"reason":"{reason}"}}'
        )
        self._emit(fast, line)

    def write_tunnel(
        self, request_id: bytes, route: str, side: str, target: str, duration: float, bytes_up: int,
        bytes_down: int, closed_by: str,
    ) -> None:
        """One line when a tunnel closes (its handshake had its own line, status 101)."""
        fast = self._fast
        if fast is None and not LOGGER.isEnabledFor(logging.INFO):
            return
        line = (
            f'{{"event":"tunnel_closed","request_id":"{request_id.decode()}","route":"{route}","side":"{side}",'
            f'"target":"{target}","duration_ms":{duration * 1000:.3f},"bytes_up":{bytes_up},'
            f'"bytes_down":{bytes_down},"closed_by":"{closed_by}"}}'
        )
        self._emit(fast, line)

    @staticmethod
    def _emit(fast: BufferedLineHandler | None, line: str) -> None:
        """To the buffered handler while it is the logger's only one, else through logging's handlers."""
        if fast is not None and len(LOGGER.handlers) == 1 and LOGGER.isEnabledFor(logging.INFO):
            fast.append(line)
        else:
            LOGGER.handle(LOGGER.makeRecord(LOGGER.name, logging.INFO, "strangler.access", 0, line, None, None))
