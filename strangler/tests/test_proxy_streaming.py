"""50 MB up and down through a proxy running in its own process, with flat proxy memory."""

from __future__ import annotations

import http.client
import json
import zlib
from pathlib import Path

import pytest

from strangler.tests.conftest import proxy_in_process

HERE = Path(__file__).parent
SIZE = 50 * 1024 * 1024
BLOCK = bytes(range(256)) * 256  # 64 KiB


def _rss_kb(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise AssertionError(field)


@pytest.fixture(scope="module")
def proxy_proc(upstreams, tmp_path_factory):
    cfg = tmp_path_factory.mktemp("streaming") / "routes.toml"
    cfg.write_text(f"""
[proxy]
listen = "127.0.0.1:0"
access_log = false
[proxy.limits]
max_body_bytes = {SIZE * 2}
[targets.monolith]
url = "http://127.0.0.1:{upstreams['monolith']}"
[targets.payments]
url = "http://127.0.0.1:{upstreams['service']}"
[[routes]]
name = "payments"
prefix = "/api/v1/payments"
service = "payments"
mode = "service"
""")
    with proxy_in_process(cfg) as running:
        yield running


def _reset_peak(pid: int) -> None:
    """Make VmHWM measure this test only (Linux: writing 5 to clear_refs resets the peak RSS)."""
    try:
        Path(f"/proc/{pid}/clear_refs").write_text("5")
    except OSError:
        pass


def _warm(port: int) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    for _ in range(3):
        conn.request("POST", "/api/v1/payments/warm", body=BLOCK * 4)
        conn.getresponse().read()
    conn.close()


def test_upload_50mb_streams_with_flat_memory(proxy_proc):
    pid, port = proxy_proc
    _warm(port)
    _reset_peak(pid)
    before = _rss_kb(pid, "VmRSS")
    for chunked in (False, True):
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        crc = 0

        def body():
            nonlocal crc
            for _ in range(SIZE // len(BLOCK)):
                crc = zlib.crc32(BLOCK, crc)
                yield BLOCK

        headers = {} if chunked else {"Content-Length": str(SIZE)}
        conn.request("POST", "/api/v1/payments/upload", body=body(), headers=headers, encode_chunked=chunked)
        resp = conn.getresponse()
        result = json.loads(resp.read())
        conn.close()
        assert resp.status == 200
        assert (result["upstream"], result["body_size"], result["body_crc"]) == ("service", SIZE, crc)
    growth_mb = (_rss_kb(pid, "VmHWM") - before) / 1024
    assert growth_mb < 20, f"proxy RSS grew {growth_mb:.1f} MB for a 50 MB upload"


@pytest.mark.parametrize("chunked", [False, True])
def test_download_50mb_streams_with_flat_memory(proxy_proc, chunked):
    pid, port = proxy_proc
    _warm(port)
    _reset_peak(pid)
    before = _rss_kb(pid, "VmRSS")
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    conn.request("GET", f"/download?size={SIZE}&chunked={int(chunked)}")
    resp = conn.getresponse()
    assert resp.status == 200
    total = 0
    while data := resp.read(1 << 16):
        total += len(data)
    conn.close()
    assert total == SIZE
    growth_mb = (_rss_kb(pid, "VmHWM") - before) / 1024
    assert growth_mb < 20, f"proxy RSS grew {growth_mb:.1f} MB for a 50 MB download"


def test_slow_reader_pauses_the_upstream(proxy_proc):
    """A client that stops reading must stop the upstream, not fill the proxy's memory."""
    import socket
    import time

    pid, port = proxy_proc
    _warm(port)
    _reset_peak(pid)
    before = _rss_kb(pid, "VmRSS")
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
        sock.sendall(b"GET /download?size=%d HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n" % SIZE)
        time.sleep(1.0)  # read nothing while the upstream would happily send all 50 MB
        stalled_growth_mb = (_rss_kb(pid, "VmRSS") - before) / 1024
        total = 0
        while data := sock.recv(1 << 20):
            total += len(data)
    head_len = 200  # the response head is small; the body is exactly SIZE bytes
    assert SIZE < total < SIZE + head_len * 5
    assert stalled_growth_mb < 20, f"proxy buffered {stalled_growth_mb:.1f} MB for a stalled reader"


def test_slow_upstream_pauses_the_upload(proxy_proc):
    """An upstream that stops reading must stop the client's upload, not fill the proxy's memory."""
    import threading
    import time

    pid, port = proxy_proc
    _warm(port)
    _reset_peak(pid)
    before = _rss_kb(pid, "VmRSS")
    result = {}

    def upload():
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        conn.request("POST", "/api/v1/payments/upload?read_sleep=1.0", body=(BLOCK for _ in range(SIZE // len(BLOCK))),
                     headers={"Content-Length": str(SIZE)})
        result["body"] = json.loads(conn.getresponse().read())
        conn.close()

    thread = threading.Thread(target=upload)
    thread.start()
    time.sleep(0.8)  # the upstream is not reading yet
    stalled_growth_mb = (_rss_kb(pid, "VmRSS") - before) / 1024
    thread.join(60)
    assert result["body"]["body_size"] == SIZE
    assert stalled_growth_mb < 20, f"proxy buffered {stalled_growth_mb:.1f} MB for a stalled upstream"
