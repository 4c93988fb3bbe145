"""The per-request access log: one JSON line per request on the `strangler.access` logger.

Going through a LogRecord and a flushing StreamHandler for every request costs more CPU than
proxying the request. Like nginx's `access_log ... buffer=`, the proxy therefore installs a
buffered handler (stderr, flushed every 64 KiB and on each sweep tick) when the logger has no
handler of its own, and hands lines straight to it. Attach your own handler to
`strangler.access` before the proxy starts to get ordinary LogRecords instead.

For speed, lines are formatted in batches, and the fields that repeat between requests (route, side,
target, status; retries, fallback, reason) are formatted once per combination and reused.
"""

from __future__ import annotations

import logging
import sys
from json.encoder import encode_basestring_ascii as _json_str
from typing import TextIO

LOGGER = logging.getLogger("strangler.access")
_PENDING_LINES = 256  # lines kept as fields before they are formatted: about 64 KiB of formatted lines


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

    def extend(self, lines: list[str]) -> None:
        """Many lines in one call, in order: flushed as append() would, once past max_bytes."""
        self.lines += lines
        self.size += sum(map(len, lines))
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
    """Request lines are kept as tuples and formatted in batches (every PENDING_LINES requests and on
    each sweep tick): per request the proxy only appends a tuple."""

    __slots__ = ("enabled", "_stream", "_fast", "_installed", "_pending", "_direct")

    PENDING_LINES = _PENDING_LINES

    def __init__(self, enabled: bool, stream: TextIO | None = None) -> None:
        self.enabled = enabled
        self._stream = stream  # of the buffered handler; stderr when None
        self._fast: BufferedLineHandler | None = None
        self._installed = False
        self._pending: list[tuple[bytes, str, bytes, str, str, str, int, float, int, bool, str]] = []
        self._direct = False  # lines go to our buffered handler alone: re-checked on every flush

    def start(self) -> None:
        if self.enabled and not LOGGER.handlers:
            self._fast = BufferedLineHandler(self._stream)
            LOGGER.addHandler(self._fast)
            LOGGER.setLevel(logging.INFO)
            LOGGER.propagate = False
            self._installed = True
        self._direct = self._sole_handler()

    def stop(self) -> None:
        self.flush()
        if self._installed and self._fast is not None:
            LOGGER.removeHandler(self._fast)
            LOGGER.propagate = True
            self._installed = False
        self._fast = None
        self._direct = False

    def flush(self) -> None:
        if self._pending:
            self._format_pending()
        self._direct = self._sole_handler()
        if self._fast is not None:
            self._fast.flush()

    def _sole_handler(self) -> bool:
        fast = self._fast
        return fast is not None and LOGGER.handlers == [fast] and LOGGER.isEnabledFor(logging.INFO)

    def write(
        self, request_id: bytes, method: str, path: bytes, route: str, side: str, target: str, status: int,
        duration: float, retries: int, fallback: bool, reason: str,
    ) -> None:
        if self._direct:  # formatted later, in a batch (the line's fields are immutable)
            pending = self._pending
            pending.append((request_id, method, path, route, side, target, status, duration, retries, fallback,
                            reason))
            if len(pending) >= _PENDING_LINES:  # a module constant: a class one read through self is slow on 3.11
                self._format_pending()
            return
        if self._fast is None and not LOGGER.isEnabledFor(logging.INFO):
            return
        self._emit(self._fast, _request_line(request_id, method, path, route, side, target, status, duration,
                                             retries, fallback, reason))

    def _format_pending(self) -> None:
        pending, self._pending = self._pending, []
        lines = _request_lines(pending)
        if self._fast is not None and self._sole_handler():
            self._fast.extend(lines)
        else:  # a handler was attached since the last tick: these lines go through logging too
            for line in lines:
                self._emit(self._fast, line)

    def write_tunnel(
        self, request_id: bytes, route: str, side: str, target: str, duration: float, bytes_up: int,
        bytes_down: int, closed_by: str,
    ) -> None:
        """One line when a tunnel closes (its handshake had its own line, status 101)."""
        fast = self._fast
        if fast is None and not LOGGER.isEnabledFor(logging.INFO):
            return
        if self._pending:
            self._format_pending()  # keep the lines in order
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


# The fields between the path and the duration, and those after it, repeat from request to request
# (a handful of routes, sides, targets, statuses, retries, reasons): each combination is formatted once.
_FRAGMENTS: dict[tuple[str, str, str, int, int, bool, str], tuple[str, str]] = {}
_FRAGMENTS_KEPT = 4096  # past this many combinations, new ones are formatted each time
# Formatting a float costs the interpreter more than the rest of a line: the durations under
# _MS_TABLE_US microseconds, nearly all of them, are looked up as text instead, formatted here once.
_MS_TABLE_US = 10_000
_MS_TEXT = [f"{us / 1000:.3f}" for us in range(_MS_TABLE_US)]
_MS_TABLE_S = (_MS_TABLE_US - 0.5) / 1e6  # shorter durations round to an entry of the table


def _fragments(route: str, side: str, target: str, status: int, retries: int, fallback: bool,
               reason: str) -> tuple[str, str]:
    """The line's text between the path and the duration, and after the duration."""
    fragments = (
        f'"route":"{route}","side":"{side}","target":"{target}","status":{status},"duration_ms":',
        f',"retries":{retries},"fallback":{"true" if fallback else "false"},"reason":"{reason}"}}',
    )
    if len(_FRAGMENTS) < _FRAGMENTS_KEPT:
        _FRAGMENTS[(route, side, target, status, retries, fallback, reason)] = fragments
    return fragments


def _request_lines(
    pending: list[tuple[bytes, str, bytes, str, str, str, int, float, int, bool, str]],
) -> list[str]:
    """The JSON lines of a batch, in order. One loop rather than a call per line: this runs for
    every request the proxy serves (formatting by columns, with one `%` for the batch, measured
    slower: `%` copies its template a character at a time). Hand-built JSON: request ids are
    validated [A-Za-z0-9._-], methods are tokens, route names are checked by config; only the
    path needs escaping."""
    known, ms_text = _FRAGMENTS, _MS_TEXT
    lines = []
    append = lines.append
    for request_id, method, path, route, side, target, status, duration, retries, fallback, reason in pending:
        fragments = known.get((route, side, target, status, retries, fallback, reason))
        if fragments is None:
            fragments = _fragments(route, side, target, status, retries, fallback, reason)
        ms = ms_text[int(duration * 1e6 + 0.5)] if duration < _MS_TABLE_S else f"{duration * 1000:.3f}"
        append(f'{{"request_id":"{request_id.decode()}","method":"{method}",'
               f'"path":{_json_str(path.decode("latin-1"))},{fragments[0]}{ms}{fragments[1]}')
    return lines


def _request_line(request_id: bytes, method: str, path: bytes, route: str, side: str, target: str, status: int,
                  duration: float, retries: int, fallback: bool, reason: str) -> str:
    return _request_lines([(request_id, method, path, route, side, target, status, duration, retries, fallback,
                            reason)])[0]
