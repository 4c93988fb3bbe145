"""OpenTelemetry for a Django project (a monolith, or a service cut out of it): one trace per request,
across HTTP calls, the outbox and Celery.

``tracing_setup(name)`` is called once per process by each project's wsgi.py (web), celery.py
(worker, on ``worker_init``) and the ``relay_outbox`` command. It is a no-op unless the environment
turns tracing on (``OTEL_EXPORTER_OTLP_ENDPOINT``, or ``OTEL_TRACES_EXPORTER=otlp|console``; see
strangler.proxy.tracing, which builds the provider for the proxy too) and instruments Django, requests
and Celery: HTTP calls and task headers carry the W3C traceparent.

The outbox is the one hop those instrumentations cannot see: an event is written inside the
request's transaction and published by the relay process later. So the outbox envelope gets an
optional ``trace`` key, ``{"traceparent": ..., "tracestate": ...}`` (tracestate only when
non-empty), written only when a span is current; the relay publishes each message in a span that
is that context's child, and Celery's instrumentation carries it on into the worker's task.

OpenTelemetry is an optional extra ("tracing"): without it every function here does nothing.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from strangler.proxy.tracing import provider_from_env

logger = logging.getLogger(__name__)

TRACE_KEY = "trace"  # the envelope's optional key; see the module docstring
DJANGO_EXCLUDED_URLS = "healthz"  # health probes make no traces unless OTEL_PYTHON_DJANGO_EXCLUDED_URLS says otherwise

_lock = threading.Lock()
_done = False  # tracing_setup ran in this process (or in the parent it was forked from)
_tracer: Any = None  # the kit's Tracer while tracing is on


def tracing_setup(service_name: str) -> bool:
    """Turn tracing on for this process as the environment says; True when it is on.

    Idempotent: the first call decides (its name is the process's ``service.name`` unless
    ``OTEL_SERVICE_NAME`` overrides it). Forked children inherit the set-up; the exporter builds its
    HTTP session again in each of them (strangler.proxy.tracing.PerProcessExporter)."""
    global _done, _tracer
    with _lock:
        if _done:
            return _tracer is not None
        _done = True
        provider = provider_from_env(service_name)
        if provider is None:
            return False
        from opentelemetry import trace

        trace.set_tracer_provider(provider)
        _instrument(provider)
        _tracer = provider.get_tracer("strangler.django")
        logger.info("tracing on as %s", provider.resource.attributes.get("service.name"))
        return True


def _instrument(provider: Any) -> None:
    """Django (server spans from the incoming traceparent), requests (client spans, traceparent out)
    and Celery (publish and run spans, traceparent in the task headers)."""
    try:
        from opentelemetry.instrumentation.celery import CeleryInstrumentor
        from opentelemetry.instrumentation.django import DjangoInstrumentor
        from opentelemetry.instrumentation.requests import RequestsInstrumentor
    except ImportError as exc:
        logger.warning("OpenTelemetry instrumentation missing (%s): spans only from the kit's outbox", exc)
        return
    excluded = os.environ.get("OTEL_PYTHON_DJANGO_EXCLUDED_URLS", DJANGO_EXCLUDED_URLS)
    DjangoInstrumentor().instrument(tracer_provider=provider, excluded_urls=excluded)
    RequestsInstrumentor().instrument(tracer_provider=provider)
    CeleryInstrumentor().instrument(tracer_provider=provider)


def tracing_enabled() -> bool:
    return _tracer is not None


def trace_context() -> dict[str, str] | None:
    """The current span's W3C context, to travel with an outbox event; None without a span."""
    if _tracer is None:
        return None
    from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

    carrier: dict[str, str] = {}
    TraceContextTextMapPropagator().inject(carrier)
    if "traceparent" not in carrier:
        return None
    return {k: carrier[k] for k in ("traceparent", "tracestate") if carrier.get(k)}


def _envelope_context(envelope: dict[str, Any]) -> Any:
    """The context an envelope's ``trace`` key names, or None (absent or malformed: ignored)."""
    from opentelemetry.context import Context
    from opentelemetry.trace import get_current_span
    from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

    carried = envelope.get(TRACE_KEY)
    if not isinstance(carried, dict) or not isinstance(carried.get("traceparent"), str):
        return None
    carrier = {k: v for k, v in carried.items() if k in ("traceparent", "tracestate") and isinstance(v, str)}
    context = TraceContextTextMapPropagator().extract(carrier, context=Context())
    return context if get_current_span(context).get_span_context().is_valid else None


@contextmanager
def outbox_publish_span(envelope: dict[str, Any]) -> Iterator[None]:
    """The relay's span for one message: a child of the context the event was written in, so
    the task Celery publishes inside it (and the worker's run of it) join the request's trace."""
    if _tracer is None:
        yield
        return
    from opentelemetry.context import Context

    parent = _envelope_context(envelope)
    with _tracer.start_as_current_span(f"outbox publish {envelope.get('type', '?')}",
                                       context=parent if parent is not None else Context(),
                                       attributes=_event_attributes(envelope)):
        yield


@contextmanager
def dispatch_span(envelope: dict[str, Any]) -> Iterator[None]:
    """The worker's span around running an event's consumers: a child of the task's span (Celery
    took the context from the task headers); when the task came without one, of the envelope's."""
    if _tracer is None:
        yield
        return
    from opentelemetry.trace import Link, get_current_span

    parent = None
    links = []
    carried = _envelope_context(envelope)
    if not get_current_span().get_span_context().is_valid:
        parent = carried
    elif carried is not None:
        current, origin = get_current_span().get_span_context(), get_current_span(carried).get_span_context()
        if current.trace_id != origin.trace_id:  # published without a context: keep the way back
            links.append(Link(origin))
    with _tracer.start_as_current_span(f"dispatch {envelope.get('type', '?')}", context=parent, links=links,
                                       attributes=_event_attributes(envelope)):
        yield


def _event_attributes(envelope: dict[str, Any]) -> dict[str, str]:
    return {"messaging.message.id": str(envelope.get("event_id", "")), "event.type": str(envelope.get("type", ""))}
