"""One structured JSON line per request on the `strangler.access` logger."""

from __future__ import annotations

import io
import json
import logging

from strangler.proxy.accesslog import AccessLog, BufferedLineHandler
from strangler.testing import free_port
from strangler.tests.conftest import base_config


class Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


def test_one_json_line_per_request(make_proxy):
    logger = logging.getLogger("strangler.access")
    handler = Collect()
    logger.addHandler(handler)
    old_level = logger.level
    logger.setLevel(logging.INFO)
    try:
        proxy = make_proxy(service=free_port(), mode="service")
        proxy.request("GET", "/api/v1/payments/7?q=\"x\"", headers={"X-Request-ID": "req-1"})
        proxy.request("GET", "/other")
    finally:
        logger.removeHandler(handler)
        logger.setLevel(old_level)
    first, second = (json.loads(line) for line in handler.lines)
    assert first == {
        "request_id": "req-1", "method": "GET", "path": '/api/v1/payments/7?q="x"', "route": "payments",
        "side": "monolith", "target": "monolith", "status": 200, "duration_ms": first["duration_ms"], "retries": 2,
        "fallback": True, "reason": "mode",
    }
    assert first["duration_ms"] > 0
    assert (second["route"], second["status"], second["fallback"]) == ("DEFAULT", 200, False)


def test_access_log_can_be_disabled(make_proxy, upstreams):
    logger = logging.getLogger("strangler.access")
    handler = Collect()
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        cfg = base_config(upstreams["monolith"], upstreams["service"])
        cfg["proxy"]["access_log"] = False
        proxy = make_proxy(cfg)
        assert proxy.request("GET", "/x")[0] == 200
    finally:
        logger.removeHandler(handler)
    assert handler.lines == []


def test_buffered_handler_batches_lines():
    stream = io.StringIO()
    handler = BufferedLineHandler(stream, max_bytes=50)
    handler.append('{"a":1}')
    assert stream.getvalue() == ""
    handler.append("x" * 60)  # over the buffer size: written out
    assert stream.getvalue() == '{"a":1}\n' + "x" * 60 + "\n"
    handler.append("tail")
    handler.flush()
    assert stream.getvalue().endswith("tail\n")


def test_refusals_are_logged_too(make_proxy):
    from strangler.tests.conftest import raw_exchange

    logger = logging.getLogger("strangler.access")
    handler = Collect()
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        proxy = make_proxy()
        raw_exchange(proxy.port, b"GET /no-host HTTP/1.1\r\n\r\n")
    finally:
        logger.removeHandler(handler)
    (line,) = (json.loads(line) for line in handler.lines)
    assert (line["status"], line["reason"], line["route"], line["path"]) == (400, "missing_host", "-", "/no-host")


def _line(log: AccessLog, request_id: bytes, path: bytes = b"/a") -> None:
    log.write(request_id, "GET", path, "items", "service", "items", 200, 0.0012, 0, False, "canary")


def test_lines_are_formatted_in_batches_in_order():
    logger = logging.getLogger("strangler.access")
    assert logger.handlers == []  # else the proxy leaves lines to that handler, through LogRecords
    stream = io.StringIO()
    log = AccessLog(True, stream)
    log.start()
    try:
        for n in range(3):
            _line(log, b"r%d" % n, b'/q?x="%d"' % n)
        assert stream.getvalue() == ""  # kept as fields until the sweep's flush (or a full batch)
        log.flush()
        lines = [json.loads(line) for line in stream.getvalue().splitlines()]
        assert [line["request_id"] for line in lines] == ["r0", "r1", "r2"]
        assert lines[2] == {"request_id": "r2", "method": "GET", "path": '/q?x="2"', "route": "items",
                            "side": "service", "target": "items", "status": 200, "duration_ms": 1.2, "retries": 0,
                            "fallback": False, "reason": "canary"}
        for n in range(AccessLog.PENDING_LINES):  # a full batch goes to the handler without waiting for a flush
            _line(log, b"b%d" % n)
        assert len(log._fast.lines) == AccessLog.PENDING_LINES  # type: ignore[union-attr]

        collect = Collect()  # attached while the proxy runs: the lines still pending reach it too
        logger.addHandler(collect)
        try:
            _line(log, b"late")
            log.flush()
        finally:
            logger.removeHandler(collect)
        assert [json.loads(line)["request_id"] for line in collect.lines] == ["late"]
        assert json.loads(stream.getvalue().splitlines()[-1])["request_id"] == "late"
    finally:
        log.stop()
    assert logger.handlers == []


def _line_as_formatted_directly(request_id, method, path, route, side, target, status, duration, retries, fallback,
                                reason):
    """The access line as the plain f-string writes it: the batch formatter's cached fragments and
    duration table must give exactly this text."""
    from json.encoder import encode_basestring_ascii

    return (f'{{"request_id":"{request_id.decode()}","method":"{method}",'
            f'"path":{encode_basestring_ascii(path.decode("latin-1"))},"route":"{route}","side":"{side}",'
            f'"target":"{target}","status":{status},"duration_ms":{duration * 1000:.3f},"retries":{retries},'
            f'"fallback":{"true" if fallback else "false"},"reason":"{reason}"}}')


def test_batched_lines_are_the_text_a_direct_format_gives():
    import random

    from strangler.proxy.accesslog import _request_lines

    rnd = random.Random(7)
    paths = [b"/api/items/42", b'/a?q="x"', b"/caf\xc3\xa9", b"/x\\y", b"/p%41"]
    # durations around the table's edge (10 ms) and its rounding, zero, and long ones
    durations = [0.0, 0.0000004, 0.0000005, 0.0099994, 0.0099995, 0.00999949, 0.0099996, 0.01, 2.5, 123.4567]
    batch = [
        (rnd.choice([b"req-1", b"-", b"6d89cdfe24496af8e1970e2fd6e88363"]), rnd.choice(["GET", "POST"]),
         rnd.choice(paths), rnd.choice(["items", "users"]), rnd.choice(["service", "monolith"]),
         rnd.choice(["items", "monolith"]), rnd.choice([200, 404, 503]),
         rnd.choice(durations) if i % 3 else rnd.random() / rnd.choice([1, 100, 1000]),
         rnd.choice([0, 1, 2]), rnd.choice([False, True]), rnd.choice(["canary", "mode"]))
        for i in range(2000)
    ]
    lines = _request_lines(batch)
    assert lines == [_line_as_formatted_directly(*fields) for fields in batch]
    assert all(json.loads(line)["request_id"] for line in lines)
