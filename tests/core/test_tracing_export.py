"""Spans leave over OTLP/HTTP when STREAMGRAPH_OTEL_ENDPOINT is set, and not otherwise.

The collector is a hosted service; here an HTTP server on 127.0.0.1 takes its place behind the
same interface (POST /v1/traces, protobuf `ExportTraceServiceRequest`), decoded with the
OpenTelemetry protocol's own classes.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

import streamgraph as sg
from streamgraph.core import tracing
from streamgraph.core.event import Event
from streamgraph.settings import Settings


class Collector(BaseHTTPRequestHandler):
    received: list[tuple[str, ExportTraceServiceRequest]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        request = ExportTraceServiceRequest()
        request.ParseFromString(body)
        self.received.append((self.path, request))
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def collector() -> Iterator[str]:
    Collector.received = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), Collector)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        tracing.disable()
        server.shutdown()
        server.server_close()
        thread.join(5)


def test_spans_go_to_the_otlp_endpoint(collector: str) -> None:
    settings = Settings(otel_endpoint=collector, otel_service_name="sg-test")
    assert not tracing.ENABLED
    tracing.configure(settings.otel_endpoint, settings.otel_service_name)
    fn = sg.new_function("exported")
    fn.set_topology("flow").to(name="a", handler="(event + 1)").to(
        name="b", handler="(event * 2)"
    ).respond()
    assert fn.to_mock_server().test(body=1) == 4
    assert tracing.flush(10.0), "the exporter did not flush within 10 s"
    spans = [
        (path, resource, span)
        for path, request in Collector.received
        for resource in request.resource_spans
        for scope in resource.scope_spans
        for span in scope.spans
    ]
    assert sorted(span.name for _, _, span in spans) == ["step a", "step b"]
    assert {path for path, _, _ in spans} == {"/v1/traces"}
    (service,) = {
        attr.value.string_value
        for _, resource, _ in spans
        for attr in resource.resource.attributes
        if attr.key == "service.name"
    }
    assert service == "sg-test"
    a, b = sorted((span for _, _, span in spans), key=lambda s: s.name)
    assert a.trace_id == b.trace_id and b.parent_span_id == a.span_id


def trace_of(event: Event) -> str | None:
    return event.trace


def test_tracing_is_off_without_an_endpoint() -> None:
    tracing.configure(Settings(otel_endpoint=None).otel_endpoint)
    assert not tracing.ENABLED
    fn = sg.new_function("untraced", namespace={"trace_of": trace_of})
    fn.set_topology("flow").to(name="a", handler="(event + 1)").to(
        name="b", handler="trace_of", full_event=True
    ).respond()
    assert fn.to_mock_server().test(body=1) is None  # no span made, none made up


@pytest.mark.parametrize(
    "value",
    [
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        "00-4BF92F3577B34DA6A3CE929D0E0E4736-00F067AA0BA902B7-00",
    ],
)
def test_a_valid_traceparent_is_kept(value: str) -> None:
    assert tracing.valid_traceparent(value) == value.lower()


@pytest.mark.parametrize(
    "value",
    [
        "",
        "junk",
        "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
        "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
        "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
    ],
)
def test_an_invalid_traceparent_starts_a_new_trace(value: str) -> None:
    assert tracing.valid_traceparent(value) is None
