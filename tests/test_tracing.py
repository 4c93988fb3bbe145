"""One checkout is one trace: the proxy, the monolith, its HTTP call to the payments service, both
outbox relays and the Celery worker that sends the confirmation mail all add spans to it, each the
child of the hop before. A product read in shadow is one trace too: the proxy, the monolith, and the
mirror the catalog service answers (named catalog-service).

The stack test runs the real processes of `make run` (gunicorn, Celery workers, relays, the proxy;
SQLite and the filesystem broker) with OTEL_EXPORTER_OTLP_ENDPOINT pointing at an OTLP/HTTP receiver
in this process, which decodes the exporters' protobuf into spans it keeps in memory. The proxy's
own tests run it in-process with the SDK's InMemorySpanExporter.
"""

from __future__ import annotations

import gzip
import http.client
import json
import os
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from monolith.config.seed_demo import DEMO_EMAIL, DEMO_PASSWORD
from strangler.proxy import tracing
from strangler.tests.conftest import ProxyHandle, base_config, header_value, start_upstream
from tests.cutover_support import stack

# db_independent: the traced stack runs on its own SQLite files; the rest is the proxy alone; the PostgreSQL pass skips it.
pytestmark = pytest.mark.db_independent

ROOT = Path(__file__).resolve().parents[1]
OTEL_VARS = ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_TRACES_EXPORTER",
             "OTEL_SERVICE_NAME")
INCOMING = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
KINDS = {0: "unspecified", 1: "internal", 2: "server", 3: "client", 4: "producer", 5: "consumer"}


def wait_for(check: Callable[[], Any], seconds: float, what: str) -> Any:
    """Poll until `check()` is truthy; fail naming `what` at the deadline (spans are exported in batches)."""
    deadline = time.monotonic() + seconds
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"no {what} within {seconds:g} s")
        time.sleep(0.1)


# -- an OTLP/HTTP receiver -----------------------------------------------------------------------------
@dataclass(frozen=True)
class SpanRecord:
    trace_id: str
    span_id: str
    parent_id: str  # "" for a root
    name: str
    kind: str
    service: str
    start: int
    attributes: dict[str, Any] = field(default_factory=dict)


def _value(any_value: Any) -> Any:
    kind = any_value.WhichOneof("value")
    return getattr(any_value, kind) if kind in ("string_value", "bool_value", "int_value", "double_value") else kind


class OtlpReceiver:
    """POST /v1/traces with an ExportTraceServiceRequest, as OTLPSpanExporter sends it."""

    def __init__(self) -> None:
        self.spans: list[SpanRecord] = []
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - quiet
                pass

            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if self.headers.get("Content-Encoding") == "gzip":
                    body = gzip.decompress(body)
                if self.path != "/v1/traces":
                    self.send_response(404)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                receiver.add(ExportTraceServiceRequest.FromString(body))
                reply = ExportTraceServiceResponse().SerializeToString()
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def add(self, request: ExportTraceServiceRequest) -> None:
        records = []
        for resource_spans in request.resource_spans:
            resource = {a.key: _value(a.value) for a in resource_spans.resource.attributes}
            for scope_spans in resource_spans.scope_spans:
                for span in scope_spans.spans:
                    records.append(SpanRecord(
                        span.trace_id.hex(), span.span_id.hex(), span.parent_span_id.hex(), span.name,
                        KINDS.get(span.kind, str(span.kind)), str(resource.get("service.name")),
                        span.start_time_unix_nano, {a.key: _value(a.value) for a in span.attributes}))
        with self.lock:
            self.spans.extend(records)

    def trace(self, trace_id: str) -> list[SpanRecord]:
        with self.lock:
            return [s for s in self.spans if s.trace_id == trace_id]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def tree(spans: list[SpanRecord]) -> str:
    """`service: name (kind)`, children indented under their parent; orphans marked."""
    ids = {s.span_id for s in spans}
    children: dict[str, list[SpanRecord]] = {}
    for s in spans:
        children.setdefault(s.parent_id if s.parent_id in ids else "", []).append(s)
    lines: list[str] = []

    def walk(span: SpanRecord, depth: int) -> None:
        orphan = " [ORPHAN: parent not in trace]" if span.parent_id and span.parent_id not in ids else ""
        lines.append(f"{'  ' * depth}{span.service}: {span.name} ({span.kind}){orphan}")
        for child in sorted(children.get(span.span_id, []), key=lambda c: c.start):
            walk(child, depth + 1)

    for root in sorted(children.get("", []), key=lambda c: c.start):
        walk(root, 0)
    return "\n".join(lines)


# The hops of one checkout: (service, kind, name prefix) and the (service, kind) of its parent.
CHECKOUT_HOPS = [
    (("monolith", "server", "POST"), ("strangler", "server")),
    (("monolith", "client", "POST"), ("monolith", "server")),  # requests, to the payments service
    (("payments-service", "server", "POST"), ("monolith", "client")),
    (("payments-service-relay", "internal", "outbox publish payments.PaymentCaptured"), ("payments-service", None)),
    (("payments-service-relay", "producer", "apply_async/kernel.dispatch_event"), ("payments-service-relay", "internal")),
    (("monolith-worker", "consumer", "run/kernel.dispatch_event"), ("payments-service-relay", "producer")),
    (("monolith-worker", "internal", "dispatch payments.PaymentCaptured"), ("monolith-worker", "consumer")),
    (("monolith-relay", "internal", "outbox publish orders.OrderConfirmed"), ("monolith", None)),
    (("monolith-relay", "producer", "apply_async/kernel.dispatch_event"), ("monolith-relay", "internal")),
    (("monolith-worker", "consumer", "run/kernel.dispatch_event"), ("monolith-relay", "producer")),
    (("monolith-worker", "internal", "dispatch orders.OrderConfirmed"), ("monolith-worker", "consumer")),  # the mail
]


def trace_problems(spans: list[SpanRecord]) -> list[str]:
    """What the trace still lacks; empty once it is complete."""
    by_id = {s.span_id: s for s in spans}
    problems = []
    roots = [s for s in spans if not s.parent_id]
    if [(r.service, r.name, r.kind) for r in roots] != [("strangler", "strangler DEFAULT", "server")]:
        problems.append(f"one root, the proxy's server span; roots: {[(r.service, r.name) for r in roots]}")
    orphans = [s for s in spans if s.parent_id and s.parent_id not in by_id]
    if orphans:
        problems.append(f"orphans: {[(s.service, s.name) for s in orphans]}")
    for (service, kind, name), (parent_service, parent_kind) in CHECKOUT_HOPS:
        found = any(
            s.service == service and s.kind == kind and s.name.startswith(name)
            and (p := by_id.get(s.parent_id)) is not None and p.service == parent_service
            and (parent_kind is None or p.kind == parent_kind)
            for s in spans)
        if not found:
            problems.append(f"{service}: {name} ({kind}) under {parent_service} ({parent_kind or 'any'})")
    return problems


# -- the whole stack ----------------------------------------------------------------------------------
def call(port: int, method: str, path: str, body: dict | None = None, token: str | None = None,
         key: str | None = None) -> tuple[int, dict, Any]:
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Token {token}"
    if key:
        headers["Idempotency-Key"] = key
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        conn.request(method, path, body=json.dumps(body) if body is not None else None, headers=headers)
        response = conn.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, json.loads(response.read() or b"null")
    finally:
        conn.close()


@pytest.fixture(scope="module")
def traced_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Any, Path, OtlpReceiver]]:
    receiver = OtlpReceiver()
    var = tmp_path_factory.mktemp("tracing-var")
    ports = stack.free_ports()
    # payments served by the service: the monolith's charge crosses HTTP (PAYMENTS_IMPL=follow);
    # catalog in shadow: the monolith answers product reads, each mirrored to the catalog service
    routes = stack.routes_for(ports=ports, store=f"sqlite:///{var}/strangler.db", edits=(
        ('service = "payments"\nmode = "monolith"', 'service = "payments"\nmode = "service"'),
        ('service = "catalog"\nmode = "monolith"', 'service = "catalog"\nmode = "shadow"')))
    routes_file = var / "routes.toml"
    routes_file.write_text(routes)

    drop = {"DATABASE_URL", "CELERY_BROKER_URL", "REDIS_URL", *OTEL_VARS}
    env = {k: v for k, v in os.environ.items() if k not in drop}
    env["VAR_DIR"] = str(var)
    env["INTERNAL_AUTH_SECRET"] = "tracing-internal-secret"
    stack.migrate(var=var, env=env)
    subprocess.run([sys.executable, "-m", "monolith.config.seed_demo"], cwd=ROOT, env=env, check=True, timeout=180)
    # Every process exports to the receiver; short batches so the test does not wait out the default 5 s.
    env |= {"OTEL_EXPORTER_OTLP_ENDPOINT": receiver.url, "OTEL_BSP_SCHEDULE_DELAY": "200"}
    procs = stack.processes(token="tracing-admin-token", secret=env["INTERNAL_AUTH_SECRET"], ports=ports,
                            routes=routes_file, var=var)
    stack.start(procs, env)
    try:
        unhealthy = stack.wait_all_healthy(procs, seconds=90)
        assert unhealthy is None, f"{unhealthy.name} never answered {unhealthy.health}"
        yield ports, var, receiver
    finally:
        stack.stop(procs)
        receiver.close()


@pytest.mark.integration
@pytest.mark.timeout(600)
def test_one_checkout_is_one_trace_across_every_hop(traced_stack):
    ports, var, receiver = traced_stack
    status, _, body = call(ports.proxy, "POST", "/api/v1/users/token/", {"email": DEMO_EMAIL, "password": DEMO_PASSWORD})
    assert status == 200, body
    token = body["token"]
    status, _, products = call(ports.proxy, "GET", "/api/v1/products/", token=token)
    assert status == 200 and products, products
    status, _, order = call(ports.proxy, "POST", "/api/v1/orders/", {"lines": [{"product_id": products[0]["id"],
                                                                              "quantity": 1}]},
                            token=token, key=str(uuid.uuid4()))
    assert status == 201, order

    status, headers, body = call(ports.proxy, "POST", f"/api/v1/orders/{order['id']}/checkout/",
                                 {"card_token": "tok_visa"}, token=token, key=f"checkout-{order['id']}")
    assert (status, body["status"]) == (200, "confirmed"), body
    trace_id = headers["x-request-id"]  # no id from the client: the proxy's request id is its trace id
    assert len(trace_id) == 32, headers

    try:
        wait_for(lambda: not trace_problems(receiver.trace(trace_id)), 120, "complete checkout trace")
    finally:
        print(f"\ntrace {trace_id}:\n{tree(receiver.trace(trace_id))}")
    assert not trace_problems(receiver.trace(trace_id)), tree(receiver.trace(trace_id))
    services = {s.service for s in receiver.trace(trace_id)}
    assert {"strangler", "monolith", "payments-service", "payments-service-relay", "monolith-relay",
            "monolith-worker"} <= services, services
    mails = [p.read_text() for p in (var / "mail").glob("*")]
    assert any(f"Subject: Your order {order['id']} is confirmed" in m for m in mails)
    # The order's creation was its own request, so its own trace: nothing of it leaked into this one.
    assert not [s for s in receiver.trace(trace_id) if "OrderPlaced" in s.name]


# A product read with the catalog route in shadow: (service, kind, name prefix) and its parent's.
CATALOG_READ_HOPS = [
    (("monolith", "server", "GET"), ("strangler", "server")),
    (("strangler", "client", "strangler shadow catalog"), ("strangler", "server")),
    (("catalog-service", "server", "GET"), ("strangler", "client")),  # the mirror, answered by the service
]


@pytest.mark.integration
@pytest.mark.timeout(600)
def test_a_product_read_mirrored_to_the_catalog_service_is_one_trace(traced_stack):
    ports, _, receiver = traced_stack
    status, headers, _ = call(ports.proxy, "GET", "/api/v1/products/")
    assert status == 200
    trace_id = headers["x-request-id"]

    def problems() -> list[str]:
        spans = receiver.trace(trace_id)
        by_id = {s.span_id: s for s in spans}
        missing = [f"{service}: {name} ({kind}) under {parent}" for (service, kind, name), parent in CATALOG_READ_HOPS
                   if not any(s.service == service and s.kind == kind and s.name.startswith(name)
                              and (p := by_id.get(s.parent_id)) is not None and (p.service, p.kind) == parent
                              for s in spans)]
        roots = [(s.service, s.name) for s in spans if not s.parent_id]
        orphans = [(s.service, s.name) for s in spans if s.parent_id and s.parent_id not in by_id]
        return missing + ([f"roots {roots}"] if roots != [("strangler", "strangler catalog")] else []) + \
            ([f"orphans {orphans}"] if orphans else [])

    try:
        wait_for(lambda: not problems(), 60, "complete product read trace")
    finally:
        print(f"\ntrace {trace_id}:\n{tree(receiver.trace(trace_id))}")


# -- the proxy alone, in-process ----------------------------------------------------------------------
@pytest.fixture(scope="module")
def sides() -> Iterator[dict[str, int]]:
    procs = {name: start_upstream(name) for name in ("monolith", "service")}
    yield {name: port for name, (_, port) in procs.items()}
    for proc, _ in procs.values():
        proc.kill()
        proc.wait()


@pytest.fixture
def proxy_spans() -> Iterator[InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracing.enable(provider)
    yield exporter
    tracing.disable()


@pytest.fixture
def proxy_factory() -> Iterator[Callable[[dict[str, Any]], ProxyHandle]]:
    handles: list[ProxyHandle] = []

    def make(config: dict[str, Any]) -> ProxyHandle:
        handles.append(ProxyHandle(config))
        return handles[-1]

    yield make
    for handle in handles:
        handle.close()


def _parse(traceparent: str) -> tuple[int, int]:
    _, trace_id, span_id, _ = traceparent.split("-")
    return int(trace_id, 16), int(span_id, 16)


def test_proxy_span_is_the_parent_of_the_upstream_traceparent(sides, proxy_spans, proxy_factory):
    proxy = proxy_factory(base_config(sides["monolith"], sides["service"]))
    status, body = proxy.json("GET", "/echo", headers={"traceparent": INCOMING, "tracestate": "k=v"})
    assert status == 200
    (span,) = wait_for(proxy_spans.get_finished_spans, 10, "proxy span")
    ctx = span.context
    assert (span.name, span.kind) == ("strangler DEFAULT", SpanKind.SERVER)
    assert (ctx.trace_id, span.parent.span_id) == _parse(INCOMING)  # the client's span is its parent
    (upstream,) = header_value(body["headers"], "traceparent")
    assert _parse(upstream) == (ctx.trace_id, ctx.span_id)  # ... and it is the monolith's parent
    assert header_value(body["headers"], "tracestate") == ["k=v"]
    assert {k: span.attributes[k] for k in ("strangler.route", "strangler.mode", "strangler.target",
                                            "http.response.status_code")} == {
        "strangler.route": "DEFAULT", "strangler.mode": "monolith", "strangler.target": "monolith",
        "http.response.status_code": 200}


def test_proxy_starts_the_trace_when_the_client_sent_none(sides, proxy_spans, proxy_factory):
    proxy = proxy_factory(base_config(sides["monolith"], sides["service"], mode="service"))
    status, headers, data = proxy.request("GET", "/api/v1/payments/p1?svc_status=503",
                                          headers={"traceparent": "00-not-a-valid-one"})
    assert status == 200 and json.loads(data)["upstream"] == "monolith"  # service failed: fallback
    (span,) = wait_for(proxy_spans.get_finished_spans, 10, "proxy span")
    assert span.parent is None and span.name == "strangler payments"
    assert headers["x-request-id"] == f"{span.context.trace_id:032x}"  # the request id is the trace id
    assert span.attributes["strangler.fallback"] is True and span.attributes["strangler.target"] == "monolith"
    (upstream,) = header_value(json.loads(data)["headers"], "traceparent")
    assert _parse(upstream) == (span.context.trace_id, span.context.span_id)


class Recorder(BaseHTTPRequestHandler):
    """A service that keeps the headers of what it was sent."""

    seen: list[dict[str, str]] = []
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - quiet
        pass

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        Recorder.seen.append({k.lower(): v for k, v in self.headers.items()})
        body = b'{"side": "recorder"}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def test_a_shadow_mirror_has_its_own_child_span(sides, proxy_spans, proxy_factory):
    server = ThreadingHTTPServer(("127.0.0.1", 0), Recorder)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    Recorder.seen.clear()
    try:
        proxy = proxy_factory(base_config(sides["monolith"], server.server_address[1], mode="shadow"))
        status, _, _ = proxy.request("GET", "/api/v1/payments/p2", headers={"traceparent": INCOMING})
        assert status == 200
        spans = wait_for(lambda: len(proxy_spans.get_finished_spans()) == 2 and proxy_spans.get_finished_spans(),
                         10, "proxy and mirror spans")
        mirrored = wait_for(lambda: [h for h in Recorder.seen if h.get("x-strangler-shadow") == "1"], 10, "mirror")
    finally:
        server.shutdown()
        server.server_close()
    request, mirror = sorted(spans, key=lambda s: s.name)
    assert (request.name, mirror.name, mirror.kind) == ("strangler payments", "strangler shadow payments",
                                                        SpanKind.CLIENT)
    assert mirror.parent.span_id == request.context.span_id
    assert mirror.context.trace_id == request.context.trace_id == _parse(INCOMING)[0]
    assert _parse(mirrored[0]["traceparent"]) == (mirror.context.trace_id, mirror.context.span_id)
    assert mirror.attributes["http.response.status_code"] == 200


def test_nothing_is_traced_when_tracing_is_off(sides, proxy_factory, monkeypatch):
    for name in OTEL_VARS:
        monkeypatch.delenv(name, raising=False)
    assert tracing.enable_from_env() is None and tracing.TRACER is None
    exporter = InMemorySpanExporter()
    TracerProvider().add_span_processor(SimpleSpanProcessor(exporter))  # exists, but the proxy was not given it
    proxy = proxy_factory(base_config(sides["monolith"], sides["service"]))
    _, body = proxy.json("GET", "/echo", headers={"traceparent": INCOMING})
    assert header_value(body["headers"], "traceparent") == [INCOMING]  # passed on untouched, as before
    assert exporter.get_finished_spans() == ()


def test_exporters_come_from_the_environment():
    assert tracing.exporter_names({}) == []
    assert tracing.exporter_names({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"}) == ["otlp"]
    assert tracing.exporter_names({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318", "OTEL_TRACES_EXPORTER": "none"}) == []
    assert tracing.exporter_names({"OTEL_TRACES_EXPORTER": "console,otlp"}) == ["console", "otlp"]
    with pytest.raises(tracing.TracingConfigError, match="unknown exporter jaeger"):
        tracing.exporter_names({"OTEL_TRACES_EXPORTER": "jaeger"})
    provider = tracing.provider_from_env("strangler", {"OTEL_TRACES_EXPORTER": "console", "OTEL_SERVICE_NAME": "edge"})
    assert provider is not None and provider.resource.attributes["service.name"] == "edge"
    provider.shutdown()


def test_without_opentelemetry_installed_the_proxy_runs_untraced(monkeypatch, caplog):
    monkeypatch.setitem(sys.modules, "opentelemetry.sdk.trace", None)  # what `pip install .` gives: no SDK
    assert tracing.provider_from_env("strangler", {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"}) is None
    assert "not installed" in caplog.text
