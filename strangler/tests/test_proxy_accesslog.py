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
