"""The pure decisions of an upgrade (strangler.proxy.upgrade), without sockets; frames are built and
parsed by the `websockets` package, not by us."""

from __future__ import annotations

import pytest
from websockets.frames import Close, Frame, Opcode

from strangler.proxy.config import ConfigError, parse_config
from strangler.proxy.routing import side_for_bucket
from strangler.proxy.types import Limits, Mode, Route, RouteState, Side, TunnelPolicy
from strangler.proxy.upgrade import (
    CLOSE_SERVICE_RESTART,
    Closer,
    FrameCursor,
    admission,
    close_frame,
    expiry,
    upgrade_refusal,
)


def _server_frames(*frames: Frame) -> bytes:
    return b"".join(f.serialize(mask=False) for f in frames)


def _client_frames(*frames: Frame) -> bytes:
    return b"".join(f.serialize(mask=True) for f in frames)


@pytest.mark.parametrize(("value", "code"), [
    (b"websocket", None), (b"WebSocket ", None), (b"h2c", "upgrade_not_allowed"),
    (b"websocket, h2c", "bad_upgrade"), (b"", "bad_upgrade"),
])
def test_upgrade_refusal(value, code):
    found = upgrade_refusal(value, TunnelPolicy())
    assert (found[1] if found else None) == code
    if found:
        assert found[0] == 400


def test_a_route_may_allow_other_upgrades():
    assert upgrade_refusal(b"h2c", TunnelPolicy(upgrades=("websocket", "h2c"))) is None
    assert upgrade_refusal(b"websocket", TunnelPolicy(upgrades=()))[1] == "upgrade_not_allowed"


def test_admission_counts_against_both_caps():
    limits = Limits(max_tunnels=3, max_tunnels_per_client=2)
    assert admission(0, 0, limits) is None
    assert admission(2, 1, limits) is None
    assert admission(3, 0, limits) == "tunnels"
    assert admission(1, 2, limits) == "client_tunnels"
    assert admission(10**6, 10**6, Limits(max_tunnels=0, max_tunnels_per_client=0)) is None


def test_close_frame_is_a_valid_server_close_frame():
    data = close_frame(CLOSE_SERVICE_RESTART, "proxy: reconnect")
    assert data[0] == 0x88 and not data[1] & 0x80  # FIN + close, unmasked
    close = Close.parse(data[2:])
    assert (close.code, close.reason) == (1012, "proxy: reconnect")
    assert len(close_frame(1001, "x" * 500)) == 2 + 125  # the reason is cut to fit a control frame


@pytest.mark.parametrize("size", [0, 125, 126, 65535, 65536, 200_000])
@pytest.mark.parametrize("masked", [False, True])
def test_frame_cursor_finds_frame_ends_in_any_split(size, masked):
    serialize = _client_frames if masked else _server_frames
    first = Frame(Opcode.BINARY, b"a" * size)
    data = serialize(first, Frame(Opcode.TEXT, b"next"))
    first_len = len(serialize(first))
    for step in (1, 3, 7, 4096):
        cursor = FrameCursor()
        for part in (data[:first_len], data[first_len:]):  # the first frame, then the second
            for pos in range(0, len(part), step):
                chunk = part[pos:pos + step]
                assert cursor.feed(chunk) == len(chunk)
                assert cursor.at_boundary == (pos + len(chunk) == len(part))
        stopped = FrameCursor()
        assert stopped.feed(data[:1]) == 1
        assert stopped.feed(data[1:], stop_at_boundary=True) == first_len - 1  # stops where the first ends


def test_frame_cursor_stops_at_the_first_frame_end():
    data = _server_frames(Frame(Opcode.TEXT, b"hello"), Frame(Opcode.TEXT, b"world"))
    cursor = FrameCursor()
    cursor.feed(data[:3])  # inside the first frame
    assert not cursor.at_boundary
    n = cursor.feed(data[3:], stop_at_boundary=True)
    assert n == 7 - 3 and cursor.at_boundary  # 2 header bytes + 5 payload bytes
    assert FrameCursor().feed(data, stop_at_boundary=True) == 0  # already between frames


def test_frame_cursor_sees_a_close_frame():
    cursor = FrameCursor()
    cursor.feed(_client_frames(Frame(Opcode.TEXT, b"hi")))
    assert not cursor.saw_close
    cursor.feed(_client_frames(Frame(Opcode.CLOSE, Close(1000, "").serialize())))
    assert cursor.saw_close


def test_expiry():
    policy = TunnelPolicy(idle_timeout=10, max_lifetime=100)
    assert expiry(5, 0, 0, policy) is None
    assert expiry(11, 0, 0, policy) is Closer.IDLE
    assert expiry(50, 0, 45, policy) is None
    assert expiry(100, 0, 99, policy) is Closer.LIFETIME
    assert expiry(10**6, 0, 0, TunnelPolicy(idle_timeout=0, max_lifetime=0)) is None


def test_side_for_bucket_follows_the_route_state():
    route = Route("live", "/ws", "live")
    assert side_for_bucket(route, 0) is Side.MONOLITH
    flipped = Route("live", "/ws", "live", state=RouteState(Mode.SERVICE, 100))
    assert side_for_bucket(flipped, 99) is Side.SERVICE
    canary = Route("live", "/ws", "live", state=RouteState(Mode.CANARY, 30))
    assert side_for_bucket(canary, 29) is Side.SERVICE and side_for_bucket(canary, 30) is Side.MONOLITH
    assert side_for_bucket(Route("live", "/ws", "live", state=RouteState(Mode.SHADOW, 0)), 0) is Side.MONOLITH


@pytest.mark.parametrize(("route", "message"), [
    ({"tunnel": {"upgrades": ["WebSocket"]}}, "lower-case protocol names"),
    ({"tunnel": {"idle_timeout": -1}}, "non-negative"),
    ({"tunnel": {"max_life": 1}}, "unknown key"),
    ({"deadlines": {"stream_types": ["text/Event-Stream"]}}, "lower-case media types"),
])
def test_tunnel_and_stream_settings_are_checked_on_load(route, message):
    spec = {"name": "live", "prefix": "/ws", "service": "live", **route}
    with pytest.raises(ConfigError, match=message):
        parse_config({"targets": {"monolith": {"url": "http://127.0.0.1:1"}, "live": {"url": "http://127.0.0.1:2"}},
                      "routes": [spec]}, env={})


def test_the_close_frame_the_proxy_sends_an_upstream_is_masked_as_a_client_s() -> None:
    """Parsed by the `websockets` package as a server parses what a client sends (mask required)."""
    from websockets.frames import Close, Frame, Opcode
    from websockets.streams import StreamReader

    from strangler.proxy.upgrade import masked_close_frame

    reader = StreamReader()
    reader.feed_data(masked_close_frame(1001, "proxy: client moved", b"\x9a\x01\xff\x10"))
    reader.feed_eof()
    parser = Frame.parse(reader.read_exact, mask=True)
    with pytest.raises(StopIteration) as done:
        next(parser)
    frame = done.value.value
    assert frame.opcode is Opcode.CLOSE and frame.fin
    assert Close.parse(frame.data) == Close(1001, "proxy: client moved")
