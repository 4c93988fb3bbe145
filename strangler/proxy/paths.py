"""Request paths the proxy refuses: any an upstream could resolve outside the route they matched.

Routes are matched on the percent-decoded path, but what runs behind a route may decode again
(a framework under a gateway, a static file server), take a backslash or an encoded slash for a
separator, or drop ``;parameters`` before resolving ``..``. So a path is decoded until it stops
changing (a bounded number of times) and refused when, at any depth, it holds a backslash or an
encoded slash or backslash, or when the fully decoded path holds a dot segment (``.``, ``..``,
also ``..;x``). Refused paths never reach an upstream, so a credential the proxy adds for a route
is only ever sent with a path inside that route's prefix.
"""

from __future__ import annotations

from urllib.parse import unquote_to_bytes

MAX_DECODE_ROUNDS = 2  # `%2525` decodes twice to `%`; a path still changing after this is refused
_DOT_SEGMENTS = (b".", b"..")


def needs_check(path: bytes) -> bool:
    """Cheap pre-test for the hot path: only these paths can have a problem. (find, not `in`: on
    Python 3.11 `bytes in bytes` first tries the needle as an int and builds a TypeError.)"""
    return path.find(b"%") >= 0 or path.find(b"/.") >= 0 or path.find(b"\\") >= 0


def text_needs_check(path: str) -> bool:
    """needs_check on the path decoded as latin-1 (one character per byte: the same answer). `in` on
    str is a plain search, where bytes.find parses its arguments as a tuple on every call."""
    return "%" in path or "/." in path or "\\" in path


def path_problem(path: bytes) -> str | None:
    """Why ``path`` (the request target up to its query) is refused; None when it is fine."""
    text = path
    rounds = 0
    while True:
        if b"\\" in text:
            return "backslashes are not allowed in the path"
        if b"%" not in text:
            break
        lowered = text.lower()
        if b"%2f" in lowered or b"%5c" in lowered:
            return "encoded slashes are not allowed in the path"
        decoded = unquote_to_bytes(text)
        if decoded == text:
            break
        rounds += 1
        if rounds > MAX_DECODE_ROUNDS:
            return "the path is percent-encoded too many times"
        text = decoded
    if b"/." in text:
        for segment in text.split(b"/"):
            if segment.partition(b";")[0] in _DOT_SEGMENTS:
                return "dot segments are not allowed in the path"
    return None
