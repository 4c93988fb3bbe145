"""The outbox hop of a trace: an event remembers the span it was written in, the relay publishes it
as that span's child, the worker dispatches it as the task's child; nothing changes when tracing is
off. Spans go to the SDK's in-memory exporter; set-up itself runs in a real process (console)."""

import dataclasses
import json
import os
import subprocess
import sys
import uuid
from pathlib import Path
from typing import ClassVar

import pytest
from django.db import transaction
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from strangler.django import tracing
from strangler.django.events import Event
from strangler.django.outbox import bus
from strangler.django.outbox.services import outbox_add, outbox_publish_pending
from strangler.django.outbox.tasks import dispatch_event
from strangler.proxy.tracing import TracingConfigError

ROOT = Path(__file__).resolve().parents[2]
OTEL_VARS = ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_TRACES_EXPORTER",
             "OTEL_SERVICE_NAME")


@dataclasses.dataclass(frozen=True, kw_only=True)
class Traced(Event):
    type_name: ClassVar[str] = "tests.Traced"
    n: int


@pytest.fixture
def spans(monkeypatch: pytest.MonkeyPatch) -> InMemorySpanExporter:
    """Tracing on in this process, without touching OpenTelemetry's global provider."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    monkeypatch.setattr(tracing, "_tracer", provider.get_tracer("test"))
    return exporter


def test_off_by_default_and_set_up_does_nothing(monkeypatch: pytest.MonkeyPatch):
    from opentelemetry import trace

    for name in OTEL_VARS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(tracing, "_done", False)
    assert tracing.tracing_setup("monolith-test") is False
    assert not tracing.tracing_enabled()
    assert type(trace.get_tracer_provider()).__name__ == "ProxyTracerProvider"  # no provider installed


def test_unknown_exporter_is_refused_by_name(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("OTEL_TRACES_EXPORTER", "zipkin")
    monkeypatch.setattr(tracing, "_done", False)
    with pytest.raises(TracingConfigError, match="unknown exporter zipkin"):
        tracing.tracing_setup("monolith-test")


@pytest.mark.django_db
def test_without_tracing_the_envelope_is_unchanged():
    message = outbox_add(event=Traced(n=1))
    assert set(message.envelope) == {"type", "event_id", "occurred_at", "version", "payload"}
    published: list[dict] = []
    assert outbox_publish_pending(publish=published.append) == 1
    assert published == [message.envelope]


@pytest.mark.django_db
def test_the_relay_publishes_in_the_trace_the_event_was_written_in(spans: InMemorySpanExporter):
    with tracing._tracer.start_as_current_span("checkout request") as request_span:
        message = outbox_add(event=Traced(n=2))
    request = request_span.get_span_context()
    carried = message.envelope["trace"]
    assert carried == {"traceparent": f"00-{request.trace_id:032x}-{request.span_id:016x}-{request.trace_flags:02x}"}

    seen: list[tuple[int, int]] = []

    def publish(envelope: dict) -> None:  # what Celery's instrumentation would inject into the task headers
        from opentelemetry.trace import get_current_span

        ctx = get_current_span().get_span_context()
        seen.append((ctx.trace_id, ctx.span_id))

    assert outbox_publish_pending(publish=publish) == 1
    (relay_span,) = [s for s in spans.get_finished_spans() if s.name == "outbox publish tests.Traced"]
    assert relay_span.context.trace_id == request.trace_id
    assert relay_span.parent is not None and relay_span.parent.span_id == request.span_id
    assert seen == [(request.trace_id, relay_span.context.span_id)]
    assert relay_span.attributes["messaging.message.id"] == message.envelope["event_id"]


@pytest.mark.django_db
def test_tracestate_travels_with_the_event(spans: InMemorySpanExporter):
    from opentelemetry import context
    from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

    incoming = {"traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01", "tracestate": "vendor=abc"}
    token = context.attach(TraceContextTextMapPropagator().extract(incoming))
    try:
        message = outbox_add(event=Traced(n=3))
    finally:
        context.detach(token)
    assert message.envelope["trace"] == incoming


@pytest.mark.django_db
@pytest.mark.parametrize("carried", ["00-garbage", {"traceparent": "zz"}, {"traceparent": 7}, ["x"]])
def test_a_malformed_trace_key_starts_a_new_trace(spans: InMemorySpanExporter, carried: object):
    with transaction.atomic():
        message = outbox_add(event=Traced(n=4))
        message.envelope["trace"] = carried
        message.save()
    published: list[dict] = []
    assert outbox_publish_pending(publish=published.append) == 1
    (relay_span,) = spans.get_finished_spans()
    assert relay_span.parent is None and len(published) == 1


@pytest.mark.django_db
def test_the_worker_dispatches_as_the_child_of_the_task_span(spans: InMemorySpanExporter):
    handled: list[str] = []
    event_type = f"tests.Traced{uuid.uuid4().hex[:6]}"
    bus.subscribe(event_type, consumer="tracing-test")(lambda envelope: handled.append(envelope["event_id"]))
    envelope = {"type": event_type, "event_id": str(uuid.uuid4()), "occurred_at": "2026-01-01T00:00:00+00:00",
                "version": 1, "payload": {},
                "trace": {"traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"}}

    with tracing._tracer.start_as_current_span("run/kernel.dispatch_event") as task_span:  # Celery's, in a worker
        dispatch_event.apply(args=[envelope]).get()
    task = task_span.get_span_context()
    (dispatch,) = [s for s in spans.get_finished_spans() if s.name == f"dispatch {event_type}"]
    assert dispatch.parent.span_id == task.span_id and dispatch.context.trace_id == task.trace_id
    # The task came in another trace than the event's: the dispatch keeps a link back to it.
    assert [link.context.trace_id for link in dispatch.links] == [0x0AF7651916CD43DD8448EB211C80319C]
    assert handled == [envelope["event_id"]]

    # A task that arrived without a context: the envelope's is the parent.
    spans.clear()
    envelope = {**envelope, "event_id": str(uuid.uuid4())}
    dispatch_event.apply(args=[envelope]).get()
    (dispatch,) = spans.get_finished_spans()
    assert dispatch.context.trace_id == 0x0AF7651916CD43DD8448EB211C80319C
    assert dispatch.parent.span_id == 0xB7AD6B7169203331


_FORK_SCRIPT = """
import os, sys
from strangler.django.tracing import tracing_setup
from opentelemetry import trace
assert tracing_setup("tracing-fork-test")
assert tracing_setup("ignored-second-name")  # idempotent: the first call decided
tracer = trace.get_tracer("fork-test")
with tracer.start_as_current_span("in-parent"):
    pass
trace.get_tracer_provider().force_flush()
pid = os.fork()
if pid == 0:
    with tracer.start_as_current_span("in-child"):
        pass
    sys.exit(0)  # the provider's exit hook flushes through the child's own export thread
_, status = os.waitpid(pid, 0)
sys.exit(os.waitstatus_to_exitcode(status))
"""


def test_set_up_before_a_fork_exports_from_parent_and_child(tmp_path: Path):
    """As a gunicorn --preload master or a prefork pool would: set up once, fork, both export."""
    env = {k: v for k, v in os.environ.items() if k not in OTEL_VARS} | {
        "OTEL_TRACES_EXPORTER": "console", "DJANGO_SETTINGS_MODULE": "monolith.config.settings",
        "VAR_DIR": str(tmp_path), "PYTHONPATH": str(ROOT)}
    result = subprocess.run([sys.executable, "-c", _FORK_SCRIPT], cwd=ROOT, env=env, capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    names = []
    decoder = json.JSONDecoder()
    text, pos = result.stdout, 0
    while (start := text.find("{", pos)) >= 0:  # the console exporter prints one JSON object per span
        span, pos = decoder.raw_decode(text, start)
        names.append((span["name"], span["resource"]["attributes"]["service.name"]))
    assert sorted(names) == [("in-child", "tracing-fork-test"), ("in-parent", "tracing-fork-test")]
