"""Compile works on a frozen copy: the declaration is never edited, compiling twice is the same."""

from __future__ import annotations

from typing import Any

import pytest

import streamgraph as sg
from streamgraph.core.compile import Plan, compile_graph
from streamgraph.core.context import GraphContext
from streamgraph.errors import GraphError


class EventStep:
    def do_event(self, event: Any) -> Any:
        return event.body


def shape(plan: Plan) -> dict[str, Any]:
    """What a plan decides, step by step (not the step objects, which are new each time)."""
    return {
        name: (
            step.outlets,
            step.responder,
            step.error_target,
            step.full_event,
            step.max_iterations,
            step.answers_when_last,
            step.outputs_when_last,
            step.ack_on_drop,
            step.reaches_responder,
        )
        for name, step in plan.steps.items()
    } | {"starts": plan.starts, "responder": plan.responder}


def flow_function() -> sg.ServingFunction:
    fn = sg.new_function("frozen", namespace={"EventStep": EventStep})
    graph = fn.set_topology("flow", allow_cyclic=True)
    graph.to("EventStep", name="ev").to(name="loop", handler="(event)", cycle_to=["ev"]).to(
        name="out", handler="(event)"
    ).respond()
    graph.error_handler(name="catch", handler="(event)")
    return fn


def test_compiling_leaves_the_declaration_as_it_was_and_twice_gives_the_same_plan() -> None:
    fn = flow_function()
    graph = fn.spec.graph
    before = graph.to_dict()
    first = compile_graph(graph, fn.namespace(), GraphContext())
    second = compile_graph(graph, fn.namespace(), GraphContext())
    assert graph.to_dict() == before
    assert graph["ev"].full_event is False  # a do_event class no longer flips the declaration
    assert first.steps["ev"].full_event is True
    assert shape(first) == shape(second)
    assert first.graph is not graph and first.graph["ev"] is not graph["ev"]


def test_a_router_topology_is_not_turned_into_a_flow_step() -> None:
    fn = sg.new_function("frozen-router")
    router = fn.set_topology("router")
    before = router.to_dict()
    plan = compile_graph(router, {}, GraphContext())
    assert router.to_dict() == before and router.after == []
    assert plan.starts == ("router",) and plan.responder == "router"
    assert router._parent is None  # still a topology of its own, not a step of the plan's flow


def test_the_compiled_copy_refuses_changes() -> None:
    fn = flow_function()
    plan = compile_graph(fn.spec.graph, fn.namespace(), GraphContext())
    with pytest.raises(GraphError, match="frozen copy"):
        plan.graph["loop"].responder = True
    fn.spec.graph["loop"].comment = "the declaration itself stays editable"


def test_a_second_mock_server_sees_a_changed_declaration() -> None:
    fn = sg.new_function("redeclare")
    graph = fn.set_topology("flow")
    step = graph.to(name="a", handler="(event + 1)")
    step.respond()
    assert fn.to_mock_server().test(body=1) == 2
    step.to(name="b", handler="(event * 10)").respond()
    step.responder = False
    assert fn.to_mock_server().test(body=1) == 20
