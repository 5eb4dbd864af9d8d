"""OpenTelemetry spans for requests, step runs and queue hops, shared by every engine.

The trace context travels with the event as a W3C `traceparent` (`Event.trace`): on Kafka it is
the record's `traceparent` header, in process an attribute. Each span sets `Event.trace` to its
own context, so whatever the event causes next (the next step, the next hop, a branch's copy) is
its child: one request is one trace, every hop in order.

Tracing is off unless configured (`STREAMGRAPH_OTEL_ENDPOINT`, or `use_exporter` in tests).
Off, the hot paths test the module flag `ENABLED` and nothing else: no span objects, and
OpenTelemetry is not even imported. A `traceparent` the caller sent still travels untouched.
"""

from __future__ import annotations

import logging
import re
import sys
import time
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # imported only once tracing is configured
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SpanExporter
    from opentelemetry.trace import Span

    from .event import Event

__all__ = [
    "ENABLED",
    "configure",
    "context_of",
    "disable",
    "end_span",
    "flush",
    "hop_span",
    "record_hop",
    "start_span",
    "use_exporter",
    "valid_traceparent",
]

logger = logging.getLogger("streamgraph.tracing")

#: whether spans are made; engines test this before anything else (the off path costs one read)
ENABLED = False
_provider: TracerProvider | None = None
_tracer: Any = None
_endpoint: str | None = None

# version 00: trace id (32 hex, not all zero), span id (16 hex, not all zero), flags (2 hex)
_TRACEPARENT = re.compile(r"^00-(?!0{32})[0-9a-f]{32}-(?!0{16})[0-9a-f]{16}-[0-9a-f]{2}$")


def valid_traceparent(value: str | None) -> str | None:
    """`value` if it is a W3C traceparent streamgraph can continue, else None (a new trace)."""
    if value and _TRACEPARENT.match(value.strip().lower()):
        return value.strip().lower()
    return None


def configure(endpoint: str | None, service_name: str = "streamgraph") -> None:
    """Export spans over OTLP/HTTP to `endpoint` (`http://host:4318`, or the full
    `.../v1/traces` URL), or print them to stderr (`console`); None leaves tracing as it is
    (off unless set up before)."""
    global _endpoint
    if not endpoint or endpoint == _endpoint:
        return
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    exporter: Any
    if endpoint == "console":
        from opentelemetry.sdk.trace.export import ConsoleSpanExporter

        exporter, where = ConsoleSpanExporter(out=sys.stderr), "stderr"
    else:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        where = endpoint.rstrip("/")
        if not where.endswith("/v1/traces"):
            where += "/v1/traces"
        exporter = OTLPSpanExporter(endpoint=where)
    # batched: exporting never runs on the event's path
    _install(BatchSpanProcessor(exporter), service_name)
    _endpoint = endpoint
    logger.info("tracing: spans go to %s", where)


def flush(timeout_seconds: float = 10.0) -> bool:
    """Export every span ended so far (a batch exporter sends them a few seconds later)."""
    return _provider is None or _provider.force_flush(int(timeout_seconds * 1000))


def use_exporter(exporter: SpanExporter, service_name: str = "streamgraph") -> TracerProvider:
    """Send every span to `exporter` as it ends (tests: an `InMemorySpanExporter`)."""
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor

    return _install(SimpleSpanProcessor(exporter), service_name)


def disable() -> None:
    """Tracing off again; spans already made are flushed."""
    global ENABLED, _provider, _tracer, _endpoint
    provider, _provider = _provider, None
    ENABLED, _tracer, _endpoint = False, None, None
    if provider is not None:
        provider.shutdown()


def _install(processor: Any, service_name: str) -> TracerProvider:
    # a provider of our own, not the global one: the application's own OpenTelemetry setup
    # (and its one-time global) stays the application's
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider

    global ENABLED, _provider, _tracer
    disable()
    provider = TracerProvider(resource=Resource.create({"service.name": service_name}))
    provider.add_span_processor(processor)
    _provider, _tracer = provider, provider.get_tracer("streamgraph")
    ENABLED = True
    return provider


def _parent(traceparent: str | None) -> Any:
    """The OpenTelemetry context whose current span is the remote parent `traceparent`."""
    if not traceparent:
        return None
    from opentelemetry.trace import (
        NonRecordingSpan,
        SpanContext,
        TraceFlags,
        set_span_in_context,
    )

    try:  # (the propagator's extract does the same with a regex and more objects: 3x slower)
        _version, trace_id, span_id, flags = traceparent.split("-")
        context = SpanContext(
            int(trace_id, 16), int(span_id, 16), True, TraceFlags(int(flags, 16) & 1)
        )
    except ValueError:  # malformed (a direct producer's): a new trace, as W3C says
        return None
    if not context.is_valid or len(trace_id) != 32 or len(span_id) != 16:
        return None
    return set_span_in_context(NonRecordingSpan(context))


def context_of(span: Span) -> str:
    """`span`'s context as a W3C traceparent."""
    return _traceparent(span)


def _traceparent(span: Span) -> str:
    ctx = span.get_span_context()
    return f"00-{ctx.trace_id:032x}-{ctx.span_id:016x}-{int(ctx.trace_flags):02x}"


def start_span(
    name: str, event: Event, kind: str = "INTERNAL", attributes: dict[str, Any] | None = None
) -> Span:
    """A span for work on `event`, child of `event.trace`; the event's trace becomes it, so
    what the event causes next is this span's child. End it with `end_span`."""
    from opentelemetry.trace import SpanKind

    span = _tracer.start_span(
        name,
        context=_parent(event.trace),
        kind=SpanKind[kind],
        attributes={"streamgraph.event_id": event.id, **(attributes or {})},
    )
    event.trace = _traceparent(span)
    return span


def end_span(span: Span, error: BaseException | str | None = None) -> None:
    """End `span`, marked failed when `error` is given."""
    if error is not None:
        from opentelemetry.trace import Status, StatusCode

        span.set_status(Status(StatusCode.ERROR, str(error)))
    span.end()


def hop_span(
    name: str, event: Event, started: float, attributes: dict[str, Any] | None = None
) -> None:
    """A span that already happened: from `started` (epoch seconds) to now, child of
    `event.trace` (a queue wait, known once the record is taken). The event's trace becomes it."""
    event.trace = record_hop(
        name, event.trace, started, {"streamgraph.event_id": event.id, **(attributes or {})}
    )


def record_hop(
    name: str,
    parent: str | None,
    started: float | None,
    attributes: dict[str, Any] | None = None,
) -> str:
    """A queue-wait span from `started` (epoch seconds; None: now) to now, child of the
    traceparent `parent`; returns its own traceparent."""
    from opentelemetry.trace import SpanKind

    now_ns = time.time_ns()
    start_ns = now_ns if started is None else min(int(started * 1e9), now_ns)  # clocks may differ
    span = _tracer.start_span(
        name,
        context=_parent(parent),
        kind=SpanKind.CONSUMER,
        attributes=attributes,
        start_time=start_ns,
    )
    span.end(end_time=now_ns)
    return _traceparent(span)
