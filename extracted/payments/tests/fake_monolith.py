"""A stand-in for the monolith's token introspection, speaking the contract the service relies on.

It checks the caller's internal credential the way the monolith's middleware does, so a test
also proves the service signs its calls as ``payments-service``.
"""

from __future__ import annotations

import json
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from strangler.credentials import HEADER, credential_verify

INTROSPECT_PATH = "/internal/v1/users/introspect/"


class FakeMonolith:
    def __init__(self, secret: str) -> None:
        self.secret = secret
        self.tokens: dict[str, uuid.UUID] = {}
        self.calls: list[dict] = []  # {"caller": ..., "token": ...}
        self.mode = "ok"  # "ok" | "error" (500) | "garbage" (200, not the contract)
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> FakeMonolith:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def reset(self) -> None:
        self.tokens.clear()
        self.calls.clear()
        self.mode = "ok"

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:  # keep test output quiet
                pass

            def _send(self, status: int, body: object) -> None:
                raw = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", "0"))) or b"{}")
                caller = credential_verify(fake.secret, self.headers.get(HEADER))
                fake.calls.append({"caller": caller, "token": body.get("token"), "path": self.path})
                if self.path != INTROSPECT_PATH:
                    return self._send(404, {"error": {"code": "not_found", "message": "", "fields": {}}})
                if caller not in {"payments-service", "monolith"}:
                    return self._send(401, {"error": {"code": "internal_credential_required", "message": "",
                                                      "fields": {}}})
                if fake.mode == "error":
                    return self._send(500, {"error": {"code": "server_error", "message": "", "fields": {}}})
                if fake.mode == "garbage":
                    return self._send(200, {"user": "someone"})
                user_id = fake.tokens.get(body.get("token"))
                if user_id is None:
                    return self._send(200, {"active": False})
                return self._send(200, {"active": True, "user_id": str(user_id)})

        return Handler
