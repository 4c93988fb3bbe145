"""The local stack's process control (deploy/local/stack.py) that `make run`, the acceptance run and
the e2e tests rely on: a stack is healthy only when its own processes answer."""

from __future__ import annotations

import http.server
import sys
import threading

import pytest

from tests.cutover_support import stack

# db_independent: the local process supervisor only; the PostgreSQL pass skips it.
pytestmark = pytest.mark.db_independent


@pytest.fixture
def someone_else_answering():
    """A server answering 200 on a port: the process the stack meant to start there is not it."""
    class Ok(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (http.server's name)
            self.send_response(200)
            self.end_headers()

        def log_message(self, *_args) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Ok)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/healthz"
    server.shutdown()
    server.server_close()


def test_a_process_that_exited_is_unhealthy_even_when_its_health_url_answers(someone_else_answering):
    # What CI saw: the proxy was given the monolith's port, could not bind and exited; the monolith
    # answered the proxy's health URL and the test ran against the wrong process.
    crashed = stack.Proc("proxy", [sys.executable, "-c", "raise SystemExit(3)"], health=someone_else_answering)
    stack.start([crashed], env={})
    crashed.popen.wait(timeout=30)
    assert stack.wait_all_healthy([crashed], seconds=5) is crashed


def test_a_running_process_whose_url_answers_is_healthy(someone_else_answering):
    running = stack.Proc("sleeper", [sys.executable, "-c", "import time; time.sleep(60)"], health=someone_else_answering)
    stack.start([running], env={})
    try:
        assert stack.wait_all_healthy([running], seconds=5) is None
    finally:
        stack.stop([running])


def test_a_stack_is_given_distinct_ports_every_time():
    seen: set[int] = set()
    for _ in range(100):
        ports = stack.free_ports()
        drawn = [ports.proxy, ports.monolith, ports.payments, ports.admin, ports.broker]
        assert len(set(drawn)) == len(drawn), ports
        seen.update(drawn)
    assert len(seen) == 500  # nor is a port handed to two stacks of one test session
