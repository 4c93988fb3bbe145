"""OpenTelemetry for the proxy, optional: one SERVER span per proxied request, one span per shadow mirror.

OpenTelemetry is not a dependency of the strangler package (`pip install .` has uvloop and
httptools only): it is imported only when the environment turns tracing on, and without it the
proxy behaves as before (it passes on or starts a W3C traceparent). The data plane pays one check
for tracing, ``TRACER is None``, which is all it costs when tracing is off.

When tracing is on, the traceparent the proxy sends upstream carries its own span's id, so the
upstream's span is the proxy span's child and one client request is one trace.

The environment is OpenTelemetry's own: ``OTEL_TRACES_EXPORTER`` (``otlp``, ``console`` or
``none``, comma-separated for several; unset means ``otlp`` when ``OTEL_EXPORTER_OTLP_ENDPOINT``
or ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`` is set, else off) and ``OTEL_SERVICE_NAME`` (overrides
the name the process passes). The SDK reads the rest (``OTEL_BSP_*``, ``OTEL_TRACES_SAMPLER``,
``OTEL_EXPORTER_OTLP_HEADERS``...). ``provider_from_env`` is shared with the Django projects
(strangler.django.tracing).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol

from strangler.proxy.http1 import valid_traceparent

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.trace import Span

    from strangler.proxy.diff import Response
    from strangler.proxy.types import Decision

log = logging.getLogger("strangler.tracing")

EXPORTERS = ("otlp", "console")
_ENDPOINT_VARS = ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT")


class Traced(Protocol):
    """A proxied request as the tracer sees it (strangler.proxy.exchange.Exchange); `span` is set
    on it only while tracing is on."""

    decision: Decision
    target: str
    retries: int
    fallback: bool


class MirrorOutcome(Protocol):
    """A finished shadow mirror (strangler.proxy.shadow.Fetch): its answer, or why there is none."""

    response: Response | None
    error: Exception | None


class TracingConfigError(ValueError):
    """The tracing environment asks for something that does not exist; the message names it."""


def exporter_names(env: Mapping[str, str] | None = None) -> list[str]:
    """The exporters the environment asks for; empty when tracing is off."""
    env = os.environ if env is None else env
    raw = env.get("OTEL_TRACES_EXPORTER", "").strip().lower()
    if not raw:
        return ["otlp"] if any(env.get(name, "").strip() for name in _ENDPOINT_VARS) else []
    names = [n.strip() for n in raw.split(",") if n.strip()]
    if names == ["none"]:
        return []
    unknown = [n for n in names if n not in EXPORTERS]
    if unknown:
        raise TracingConfigError(f"OTEL_TRACES_EXPORTER: unknown exporter {', '.join(unknown)!s}; "
                                 f"use {', '.join(EXPORTERS)} or none")
    return list(dict.fromkeys(names))


class PerProcessExporter:
    """Builds its exporter in the process that exports.

    After a fork the SDK's BatchSpanProcessor restarts its export thread and empties its queue
    (os.register_at_fork), but the OTLP exporter's HTTP session would still hold the parent's
    pooled sockets; a child sharing them corrupts both streams. Building the exporter on the first
    export of each process makes a provider set up before a fork (gunicorn --preload, a prefork
    Celery pool, an embedded beat) safe in every child."""

    def __init__(self, factory: Callable[[], Any]) -> None:
        self._factory = factory
        self._exporter: Any = None
        self._pid = 0

    def _current(self) -> Any:
        if self._pid != os.getpid():
            self._exporter, self._pid = self._factory(), os.getpid()
        return self._exporter

    def export(self, spans: Sequence[Any]) -> Any:
        return self._current().export(spans)

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return self._pid != os.getpid() or bool(self._exporter.force_flush(timeout_millis))

    def shutdown(self) -> None:
        if self._pid == os.getpid():
            self._exporter.shutdown()


def provider_from_env(service_name: str, env: Mapping[str, str] | None = None) -> TracerProvider | None:
    """A TracerProvider exporting as the environment says; None when tracing is off, or when it is
    asked for but OpenTelemetry is not installed (logged: the process runs without tracing)."""
    env = os.environ if env is None else env
    names = exporter_names(env)
    if not names:
        return None
    try:
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter
    except ImportError:
        log.warning("OTEL_TRACES_EXPORTER/OTEL_EXPORTER_OTLP_ENDPOINT ask for tracing but the OpenTelemetry SDK "
                    "is not installed (pip install '.[tracing]'); running without tracing")
        return None
    factories: dict[str, Callable[[], Any]] = {"console": ConsoleSpanExporter}
    if "otlp" in names:
        try:
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        except ImportError:
            log.warning("the OTLP/HTTP exporter is not installed (opentelemetry-exporter-otlp-proto-http); "
                        "running without tracing")
            return None
        factories["otlp"] = OTLPSpanExporter
    name = env.get("OTEL_SERVICE_NAME", "").strip() or service_name
    provider = TracerProvider(resource=Resource.create({"service.name": name}))
    for exporter in names:
        provider.add_span_processor(BatchSpanProcessor(PerProcessExporter(factories[exporter])))  # type: ignore[arg-type]
    return provider


class ProxyTracer:
    """The proxy's spans. Created only when tracing is on; `strangler.proxy.downstream`, `exchange` and
    `shadow` call it behind a `TRACER is not None` check."""

    def __init__(self, provider: TracerProvider) -> None:
        from opentelemetry.context import Context
        from opentelemetry.trace import SpanKind, Status, StatusCode
        from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

        self.provider = provider
        self._tracer = provider.get_tracer("strangler")
        self._root = Context()
        self._propagator = TraceContextTextMapPropagator()
        self._server, self._client = SpanKind.SERVER, SpanKind.CLIENT
        self._error = Status(StatusCode.ERROR)

    def begin(self, decision: Decision, method: str, path: str, traceparent: bytes | None,
              tracestate: bytes | None, rid: bytes | None) -> tuple[Span, bytes, bytes | None, bytes]:
        """Start the request's span as the child of a valid incoming traceparent (else a new trace).
        Returns the span, the traceparent and tracestate to send upstream, and the request id:
        the client's, else the trace id, so logs and traces meet on one id."""
        parent = self._root
        if traceparent is not None and valid_traceparent(traceparent):
            carrier = {"traceparent": traceparent.decode("ascii")}
            if tracestate is not None:
                carrier["tracestate"] = tracestate.decode("latin-1")
            parent = self._propagator.extract(carrier, context=self._root)
        else:
            tracestate = None
        route = decision.route
        span = self._tracer.start_span(f"strangler {route.name}", context=parent, kind=self._server, attributes={
            "strangler.route": route.name, "strangler.mode": route.state.mode.value,
            "strangler.side": decision.side.value, "strangler.reason": decision.reason,
            "http.request.method": method, "url.path": path,
        })
        ctx = span.get_span_context()
        upstream = b"00-%032x-%016x-%02x" % (ctx.trace_id, ctx.span_id, ctx.trace_flags)
        return span, upstream, tracestate, rid if rid is not None else b"%032x" % ctx.trace_id

    def end(self, ex: Traced, status: int) -> None:
        """The request is over: what served it and how."""
        span: Span | None = getattr(ex, "span", None)  # unset when tracing was turned on mid-request
        if span is None:
            return
        span.set_attributes({"strangler.target": ex.target, "http.response.status_code": status,
                             "strangler.retries": ex.retries, "strangler.fallback": ex.fallback})
        if status >= 500:
            span.set_status(self._error)
        span.end()

    def mirror(self, ex: Traced, head: bytes) -> tuple[Span | None, bytes]:
        """A CLIENT span for a shadow mirror, child of the request's span; `head` is the mirror's
        request head with the traceparent rewritten to the mirror span's id."""
        parent: Span | None = getattr(ex, "span", None)
        if parent is None:
            return None, head
        from opentelemetry.trace import set_span_in_context

        route = ex.decision.route
        span = self._tracer.start_span(f"strangler shadow {route.name}", context=set_span_in_context(parent),
                                       kind=self._client, attributes={"strangler.route": route.name,
                                                                      "strangler.target": route.service or ""})
        old, new = parent.get_span_context(), span.get_span_context()
        before = b"traceparent: 00-%032x-%016x-" % (old.trace_id, old.span_id)
        after = b"traceparent: 00-%032x-%016x-" % (new.trace_id, new.span_id)
        return span, head.replace(before, after, 1)


def mirror_done(span: Span, service: MirrorOutcome | None) -> None:
    """End a mirror's span with the service's answer (also when tracing was turned off meanwhile)."""
    from opentelemetry.trace import Status, StatusCode

    response = service.response if service is not None else None
    if response is None:
        span.set_status(Status(StatusCode.ERROR, str(service.error if service is not None else "no mirror")))
    else:
        span.set_attribute("http.response.status_code", response.status)
    span.end()


TRACER: ProxyTracer | None = None  # the data plane's one check; set by enable()


def enable(provider: TracerProvider) -> ProxyTracer:
    """Turn the proxy's spans on with this provider (tests pass one with an in-memory exporter)."""
    global TRACER
    TRACER = ProxyTracer(provider)
    return TRACER


def enable_from_env(service_name: str = "strangler") -> ProxyTracer | None:
    """Turn tracing on when the environment asks for it; None when it stays off."""
    provider = provider_from_env(service_name)
    return None if provider is None else enable(provider)


def disable(shutdown: bool = True) -> None:
    """Stop creating spans; with `shutdown`, export what is still buffered."""
    global TRACER
    tracer, TRACER = TRACER, None
    if tracer is not None and shutdown:
        tracer.provider.shutdown()
