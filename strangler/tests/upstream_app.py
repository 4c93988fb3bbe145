"""A real upstream for the proxy tests, run as its own process: `python upstream_app.py NAME PORT`.

It echoes what it received as JSON and can be told (by query string) to misbehave:
  status=N       answer with status N          sleep=S    wait S seconds before answering
  drop=1         close the connection without answering (a failure before any response byte)
  read_sleep=S   wait S seconds before reading the request body
  body_sleep=S   send the head and 5 body bytes, then wait S seconds before the rest
  nonce=1        add a random `request_nonce` field       amount=N   an `amount` field
  retry_after=S  add a Retry-After: S header (an upstream that is up and says when to come back)
  svc_X=...      X=... on the service only          dry=1      echo X-Dry-Run as `dry_run`
  size=N         /download: N bytes of body (chunked=1 for chunked framing)
  /sse           server-sent events, chunked: `beats` events `beat` seconds apart (gap=S: a pause of S
                 seconds after the second event), then "event: end"; plain=1: as application/octet-stream
GET /_hits returns how many requests each path got; POST /_reset clears the counts.
"""

from __future__ import annotations

import json
import os
import sys
import time
import zlib
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

NAME = sys.argv[1] if len(sys.argv) > 1 else "upstream"
HITS: Counter[str] = Counter()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - quiet
        pass

    def _query(self) -> dict[str, str]:
        q = {k: v[-1] for k, v in parse_qs(urlsplit(self.path).query).items()}
        if NAME == "service":  # svc_X=... overrides X on the service only
            q.update({k[4:]: v for k, v in q.items() if k.startswith("svc_")})
        return q

    def _read_body(self) -> tuple[int, int, bytes]:
        """Read the request body in chunks: (size, crc32, first 64 KiB)."""
        size, crc, head = 0, 0, b""
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            while True:
                line = self.rfile.readline()
                n = int(line.split(b";")[0], 16)
                if n == 0:
                    self.rfile.readline()
                    break
                data = self.rfile.read(n)
                self.rfile.readline()
                size, crc = size + n, zlib.crc32(data, crc)
                head = (head + data)[:65536]
            return size, crc, head
        remaining = int(self.headers.get("Content-Length") or 0)
        while remaining:
            data = self.rfile.read(min(remaining, 1 << 16))
            if not data:
                break
            remaining -= len(data)
            size, crc = size + len(data), zlib.crc32(data, crc)
            if len(head) < 65536:
                head = (head + data)[:65536]
        return size, crc, head

    def _handle(self) -> None:
        path = urlsplit(self.path).path
        q = self._query()
        if path == "/_hits":
            self._json(200, dict(HITS))
            return
        if path == "/_reset":
            HITS.clear()
            self._json(200, {})
            return
        HITS[path] += 1
        if "read_sleep" in q:
            time.sleep(float(q["read_sleep"]))  # a slow consumer: the request body waits in buffers
        try:
            size, crc, head = self._read_body()
        except (ValueError, OSError):  # the proxy gave up on this request mid-body
            self.close_connection = True
            return
        if "sleep" in q:
            time.sleep(float(q["sleep"]))
        if q.get("drop") == "1":
            self.close_connection = True
            self.connection.shutdown(2)
            return
        status = int(q.get("status", 200))
        if path == "/download":
            self._download(int(q["size"]), q.get("chunked") == "1")
            return
        if path == "/sse":
            self._sse(int(q.get("beats", 3)), float(q.get("beat", 0.5)), float(q.get("gap", 0)),
                      "application/octet-stream" if q.get("plain") == "1" else "text/event-stream; charset=utf-8")
            return
        if status in (204, 304):
            self.send_response(status)
            self.send_header("X-Upstream", NAME)
            if status == 304:
                self.send_header("ETag", '"v1"')
            self.end_headers()
            return
        if path.startswith("/hop"):
            self.send_response(200)
            self.send_header("Connection", "X-Secret-Hop")
            self.send_header("X-Secret-Hop", "leak")
            self.send_header("Keep-Alive", "timeout=5")
            self.send_header("Proxy-Authenticate", "Basic")
            self.send_header("Upgrade", "h2c")
            self.send_header("Trailer", "X-T")
            self.send_header("X-Kept", "yes")
        payload: dict[str, object] = {
            "upstream": NAME, "method": self.command, "path": self.path,
            "headers": [[k, v] for k, v in self.headers.items()],
            "body_size": size, "body_crc": crc,
            "body": head.decode("utf-8", "replace") if size <= 65536 else "",
        }
        if "amount" in q:
            payload["amount"] = int(q["amount"])
        if q.get("dry") == "1":
            payload["dry_run"] = self.headers.get("X-Dry-Run")
        if q.get("nonce") == "1":
            payload["request_nonce"] = os.urandom(8).hex()
        body = json.dumps(payload).encode()
        if not path.startswith("/hop"):
            self.send_response(status)
        if "retry_after" in q:
            self.send_header("Retry-After", q["retry_after"])
        self.send_header("Content-Type", "application/json")
        self.send_header("X-Upstream", NAME)
        self.send_header("X-Peer-Port", str(self.client_address[1]))  # which pooled connection served it
        if self.command == "HEAD":
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            return
        if q.get("chunked") == "1":
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for i in range(0, len(body), 7):
                part = body[i:i + 7]
                self.wfile.write(b"%x\r\n%s\r\n" % (len(part), part))
            self.wfile.write(b"0\r\n\r\n")
            return
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if "body_sleep" in q:
            self.wfile.write(body[:5])
            self.wfile.flush()
            time.sleep(float(q["body_sleep"]))
            body = body[5:]
        self.wfile.write(body)

    def _download(self, size: int, chunked: bool) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        block = b"x" * 65536
        if chunked:
            self.send_header("Transfer-Encoding", "chunked")
        else:
            self.send_header("Content-Length", str(size))
        self.end_headers()
        left = size
        while left:
            part = block[: min(left, len(block))]
            self.wfile.write(b"%x\r\n%s\r\n" % (len(part), part) if chunked else part)
            left -= len(part)
        if chunked:
            self.wfile.write(b"0\r\n\r\n")

    def _sse(self, beats: int, beat: float, gap: float, content_type: str) -> None:
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        try:
            for i in range(beats):
                event = b"event: beat\ndata: %d %.3f\n\n" % (i, time.time())
                self.wfile.write(b"%x\r\n%s\r\n" % (len(event), event))
                self.wfile.flush()
                time.sleep(beat + (gap if i == 1 else 0))
            end = b"event: end\ndata: done\n\n"
            self.wfile.write(b"%x\r\n%s\r\n0\r\n\r\n" % (len(end), end))
        except OSError:  # the proxy cut the stream
            self.close_connection = True

    def _json(self, status: int, data: object) -> None:
        body = json.dumps(data).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = do_HEAD = _handle


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True


if __name__ == "__main__":
    server = Server(("127.0.0.1", int(sys.argv[2]) if len(sys.argv) > 2 else 0), Handler)
    print(server.server_address[1], flush=True)
    server.serve_forever()
