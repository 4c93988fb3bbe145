"""A stand-in for the monolith's token introspection and order owners, speaking the contracts the
service relies on (payments_service.identity, payments_service.orders).

It checks the caller's internal credential the way the monolith's middleware does, so a test
also proves the service signs its calls as ``payments-service``.
"""

from __future__ import annotations

import json
import re
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from strangler.proxy.credentials import HEADER, credential_verify

INTROSPECT_PATH = "/internal/v1/users/introspect/"
ORDER_OWNER_PATH = re.compile(r"^/internal/v1/orders/(?P<order_id>[0-9a-f-]{36})/owner/$")


def _error(code: str) -> dict:
    return {"error": {"code": code, "message": "", "fields": {}}}


_NOT_FOUND = _error("not_found")


class FakeMonolith:
    def __init__(self, secret: str) -> None:
        self.secret = secret
        self.tokens: dict[str, uuid.UUID] = {}
        self.orders: dict[uuid.UUID, uuid.UUID] = {}  # order id -> its owner
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
        self.orders.clear()
        self.calls.clear()
        self.mode = "ok"

    def order_for(self, user_id: uuid.UUID) -> uuid.UUID:
        """A new order of ``user_id``, as the monolith would hold it."""
        order_id = uuid.uuid4()
        self.orders[order_id] = user_id
        return order_id

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

            def _refused(self, caller: str | None) -> bool:
                """Answer as the monolith does a caller without a credential, or a broken monolith."""
                if caller not in {"payments-service", "monolith"}:
                    self._send(401, _error("internal_credential_required"))
                elif fake.mode == "error":
                    self._send(500, _error("server_error"))
                else:
                    return False
                return True

            def do_GET(self) -> None:  # noqa: N802 - http.server's naming
                caller = credential_verify(fake.secret, self.headers.get(HEADER), audience="monolith")
                fake.calls.append({"caller": caller, "path": self.path})
                match = ORDER_OWNER_PATH.match(self.path)
                if match is None:
                    return self._send(404, _NOT_FOUND)
                if self._refused(caller):
                    return None
                order_id = uuid.UUID(match["order_id"])
                owner = fake.orders.get(order_id)
                if owner is None:
                    return self._send(404, _error("order_not_found"))
                return self._send(200, {"id": str(order_id), "user_id": str(owner)})

            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", "0"))) or b"{}")
                caller = credential_verify(fake.secret, self.headers.get(HEADER), audience="monolith")
                fake.calls.append({"caller": caller, "token": body.get("token"), "path": self.path})
                if self.path != INTROSPECT_PATH:
                    return self._send(404, _NOT_FOUND)
                if self._refused(caller):
                    return None
                if fake.mode == "garbage":
                    return self._send(200, {"user": "someone"})
                user_id = fake.tokens.get(body.get("token"))
                if user_id is None:
                    return self._send(200, {"active": False})
                return self._send(200, {"active": True, "user_id": str(user_id)})

        return Handler
