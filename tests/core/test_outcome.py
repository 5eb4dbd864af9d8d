"""The one routing decision both engines carry out (`core.outcome`), checked on its own."""

from __future__ import annotations

from typing import Any

import pytest

import streamgraph as sg
from streamgraph.core.compile import Plan, compile_graph
from streamgraph.core.context import GraphContext
from streamgraph.core.event import Event
from streamgraph.core.outcome import (
    DeadLetter,
    Drop,
    FanOut,
    Forward,
    Stream,
    ToErrorHandler,
    chunk,
    end_of_stream,
    failure,
    forward,
    outcome,
    stream_outcomes,
)
from streamgraph.core.results import DROP, Many
from streamgraph.errors import NotFoundError
from streamgraph.steps import Choice


class Pick(Choice):
    def select_outlets(self, body: Any) -> Any:
        return body["to"]


def plan_of(graph: Any) -> Plan:
    return compile_graph(graph, {"Pick": Pick}, GraphContext())


def branching_plan() -> Plan:
    fn = sg.new_function("o")
    graph = fn.set_topology("flow")
    pick = graph.to("Pick", name="pick")
    pick.to(name="left", handler="(event)").respond()
    pick.to(name="right", handler="(event)")
    return plan_of(graph)


def test_a_result_goes_to_the_selected_outlets_and_the_responder_answers() -> None:
    plan = branching_plan()
    out = outcome(plan.steps["pick"], Event({"to": "right"}), {"to": "right"})
    assert isinstance(out, Forward)
    assert out.outlets == ("right",) and not out.answer and not out.output
    done = outcome(plan.steps["left"], Event(1), 2)
    assert isinstance(done, Forward)
    assert done.outlets == () and done.answer and done.output and done.event.body == 2


def test_a_bad_selection_is_the_steps_failure() -> None:
    plan = branching_plan()
    out = outcome(plan.steps["pick"], Event({"to": "nowhere"}), {"to": "nowhere"})
    assert isinstance(out, DeadLetter)
    assert out.step == "pick" and out.status == 400 and out.answer_caller
    assert "Invalid outlet 'nowhere'" in str(out.error)


def test_drops_fan_outs_and_streams_are_told_apart() -> None:
    plan = branching_plan()
    step, event = plan.steps["right"], Event(1)
    drop = outcome(step, event, DROP)
    assert isinstance(drop, Drop) and not drop.acknowledge  # a branch: the other may answer
    fan = outcome(step, event, Many([1, 2]))
    assert isinstance(fan, FanOut) and [e.body for e in fan.events] == [1, 2]
    assert isinstance(outcome(step, event, (i for i in range(2))), Stream)


def test_a_linear_graph_acknowledges_a_dropped_event_but_not_a_dropped_chunk() -> None:
    fn = sg.new_function("lin")
    fn.set_topology("flow").to(name="a", handler="(event)").to(name="b", handler="(event)")
    step = plan_of(fn.spec.graph).steps["a"]
    dropped_event = outcome(step, Event(1), DROP)
    assert isinstance(dropped_event, Drop) and dropped_event.acknowledge
    piece = Event(1)
    piece.chunk = 0
    dropped = outcome(step, piece, DROP)
    assert isinstance(dropped, Drop) and not dropped.acknowledge


def test_without_a_responder_the_last_result_is_output_not_an_answer() -> None:
    fn = sg.new_function("noresp")
    fn.set_topology("flow").to(name="a", handler="(event)")
    out = outcome(plan_of(fn.spec.graph).steps["a"], Event(1), 5)
    assert isinstance(out, Forward) and out.output and not out.answer


def test_the_sync_engine_answers_with_the_last_result() -> None:
    fn = sg.new_function("sync")
    fn.set_topology("flow", engine="sync").to(name="a", handler="(event)")
    out = outcome(plan_of(fn.spec.graph).steps["a"], Event(1), 5)
    assert isinstance(out, Forward) and out.answer and out.output


def test_errors_go_to_the_handler_or_become_dead_letters_with_their_status() -> None:
    fn = sg.new_function("err")
    graph = fn.set_topology("flow")
    graph.to(name="a", handler="(event)").respond()
    graph.error_handler(name="catch", handler="(event)")
    plan = plan_of(graph)
    handled = failure(plan.steps["a"], Event(1), ValueError("bad"))
    assert isinstance(handled, ToErrorHandler) and handled.target == "catch"
    assert handled.event.error == "ValueError: bad" and handled.event.origin_state == "a"
    bare = branching_plan()
    event = Event(1)
    dead = failure(bare.steps["left"], event, NotFoundError("gone"))
    assert isinstance(dead, DeadLetter) and dead.status == 404
    assert dead.event is not event and event.error is None  # the dead letter is a copy


async def test_a_stream_is_its_chunks_then_an_end_marker() -> None:
    fn = sg.new_function("s")
    fn.set_topology("flow").to(name="gen", handler="(event)").respond()
    step = plan_of(fn.spec.graph).steps["gen"]
    outs = [o async for o in stream_outcomes(Stream(step, Event("x"), iter(["a", "b"])))]
    assert [type(o) for o in outs] == [Forward, Forward, Forward]
    assert [o.event.chunk for o in outs if isinstance(o, Forward)] == [0, 1, 2]
    assert outs[-1].event.end_of_stream and all(o.answer for o in outs)  # type: ignore[union-attr]


async def test_an_error_while_streaming_is_the_steps_failure() -> None:
    def broken() -> Any:
        yield "a"
        raise ValueError("mid-stream")

    fn = sg.new_function("s2")
    fn.set_topology("flow").to(name="gen", handler="(event)").respond()
    step = plan_of(fn.spec.graph).steps["gen"]
    outs = [o async for o in stream_outcomes(Stream(step, Event("x"), broken()))]
    assert isinstance(outs[0], Forward) and isinstance(outs[1], DeadLetter)
    assert len(outs) == 2  # no end marker after a failure


def test_chunks_and_end_markers_carry_their_sequence() -> None:
    plan = branching_plan()
    step = plan.steps["left"]
    piece = chunk(step, Event("x"), "a", 3)
    assert isinstance(piece, Forward) and piece.event.chunk == 3 and piece.event.stream_from
    end = end_of_stream(step, Event("x"), 4)
    assert end.event.end_of_stream and end.event.chunk == 4 and end.event.body is None


@pytest.mark.parametrize("selection", [["left", "left"], "nowhere"])
def test_forward_turns_selection_errors_into_failures(selection: Any) -> None:
    plan = branching_plan()
    assert isinstance(forward(plan.steps["pick"], Event({"to": selection})), DeadLetter)
