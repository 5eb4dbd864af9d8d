"""Scenarios: one request is one trace, a span per step run and per Kafka hop, in order."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from steps_lib import Counter, LoopUntil  # noqa: F401

import streamgraph as sg
from streamgraph.core import tracing
from streamgraph.testing import serve

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
CALLER_SPAN = "00f067aa0ba902b7"
TRACEPARENT = f"00-{TRACE_ID}-{CALLER_SPAN}-01"


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    tracing.use_exporter(exporter)
    try:
        yield exporter
    finally:
        tracing.disable()


def prep(body: dict[str, Any]) -> dict[str, Any]:
    return {**body, "n": 0}


class SeesTrace:
    """A full-event step: answers with the trace context its event carries."""

    def do(self, event: Any) -> dict[str, Any]:
        return {**event.body, "trace": event.trace}


def looping_flow() -> sg.ServingFunction:
    """prep -> counter -> check -(n < target)-> counter ... -> done: a flow with a cycle."""
    fn = sg.new_function("traced")
    graph = fn.set_topology("flow", allow_cyclic=True)
    graph.to(name="prep", handler="prep").to("Counter", name="counter").to(
        "LoopUntil", name="check"
    ).cycle_to(["counter"]).to("SeesTrace", name="done", full_event=True).respond()
    return fn


def chain(found: list[ReadableSpan], parent_span_id: int) -> list[ReadableSpan]:
    """The spans from the one whose parent is `parent_span_id`, each the only child of the last."""
    children: dict[int | None, list[ReadableSpan]] = {}
    for span in found:
        children.setdefault(span.parent.span_id if span.parent else None, []).append(span)
    ordered, parent = [], parent_span_id
    while parent in children:
        (span,) = children.pop(parent)  # a linear flow: exactly one child each
        ordered.append(span)
        parent = span.context.span_id
    assert not children, (
        f"spans outside the chain: {[s.name for v in children.values() for s in v]}"
    )
    return ordered


EXPECTED_STEPS = ["prep", "counter", "check", "counter", "check", "done"]


def test_one_request_is_one_trace_with_every_hop_in_order(
    engine: str, spans: InMemorySpanExporter
) -> None:
    server = serve(looping_flow(), engine=engine)
    answer = server.test(body={"target": 2}, headers={"traceparent": TRACEPARENT})
    assert answer["n"] == 2
    server.wait_for_completion()
    found = list(spans.get_finished_spans())
    assert {f"{s.context.trace_id:032x}" for s in found} == {TRACE_ID}
    ordered = chain(found, int(CALLER_SPAN, 16))
    names = [s.name for s in ordered]
    if engine == "local":
        assert names == [f"step {name}" for name in EXPECTED_STEPS]
    else:  # every step run follows the wait of its record in the step's topic
        topology = server.graph.topology
        topics = [topology.entry] + [topology.step_topics[s] for s in EXPECTED_STEPS[1:]]
        expected = []
        for topic, step in zip(topics, EXPECTED_STEPS, strict=True):
            expected += [f"queue {topic}", f"step {step}"]
        expected.append(f"queue {server.reply_topic}")  # the answer's way back to the caller
        assert names == expected
        for span in ordered[::2]:
            assert span.kind.name == "CONSUMER"
            assert span.end_time is not None and span.start_time is not None
            assert span.end_time >= span.start_time
    # the last step ran inside its own span: the context it saw is its span's
    (done,) = [s for s in ordered if s.name == "step done"]
    assert answer["trace"] == f"00-{TRACE_ID}-{done.context.span_id:016x}-01"
    assert all(s.attributes and s.attributes["streamgraph.event_id"] for s in ordered)


def test_a_failing_step_marks_its_span(engine: str, spans: InMemorySpanExporter) -> None:
    fn = sg.new_function("traced-fail")
    fn.set_topology("flow").to(name="ok", handler="prep").to(
        name="boom", handler="(1 / 0)"
    ).respond()
    server = serve(fn, engine=engine)
    response = server.test(body={}, headers={"traceparent": TRACEPARENT}, silent=True)
    assert response.status_code == 400
    server.wait_for_completion()
    (boom,) = [s for s in spans.get_finished_spans() if s.name == "step boom"]
    assert boom.status.status_code.name == "ERROR"
    assert "ZeroDivisionError" in (boom.status.description or "")


def test_without_tracing_the_callers_traceparent_travels_unchanged(engine: str) -> None:
    assert not tracing.ENABLED
    server = serve(looping_flow(), engine=engine)
    answer = server.test(body={"target": 1}, headers={"traceparent": TRACEPARENT})
    assert answer["trace"] == TRACEPARENT
    # no traceparent, no tracing: no trace context is made up
    assert server.test(body={"target": 1})["trace"] is None
