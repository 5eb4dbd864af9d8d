"""Scenarios: choice and outlets, cycles and their limits, queues and child functions."""

from __future__ import annotations

import pytest
import steps_lib
from steps_lib import Counter, LoopUntil, Router, inc, record  # noqa: F401

import streamgraph as sg
from streamgraph.testing import serve


def test_choice_routes_to_selected_outlet_only(engine: str) -> None:
    steps_lib.seen.clear()
    fn = sg.new_function("choice")
    graph = fn.set_topology("flow")
    choose = graph.to("Router", name="choose")
    choose.to(name="a", handler="(event['v'] + 1)").to(name="rec_a", handler="record")
    choose.to(name="b", handler="(event['v'] + 100)").to(name="rec_b", handler="record")
    server = serve(fn, engine=engine)
    server.test(body={"to": "a", "v": 1})
    server.test(body={"to": "b", "v": 1})
    server.test(body={"to": ["a", "b"], "v": 5})
    server.wait_for_completion()
    # branches of one event run concurrently on Kafka: compare without their order
    assert sorted(steps_lib.seen) == [2, 6, 101, 105]


def test_choice_by_field(engine: str) -> None:
    fn = sg.new_function("cbf")
    graph = fn.set_topology("flow")
    choose = graph.to("ChoiceByField", name="choose", field_name="route")
    choose.to(name="x", handler="(event['v'] * 10)").respond()
    choose.to(name="y", handler="(event['v'] * 100)")
    server = serve(fn, engine=engine)
    assert server.test(body={"route": "x", "v": 2}) == 20
    resp = server.test(body={"v": 2}, silent=True)
    assert resp.status_code == 400
    assert "Field 'route' is not contained" in resp.body["error"]


def test_unknown_outlet_is_an_error_naming_it(engine: str) -> None:
    fn = sg.new_function("bad-outlet")
    graph = fn.set_topology("flow")
    choose = graph.to("Router", name="choose")
    choose.to(name="a", handler="inc").respond()
    with pytest.raises(RuntimeError, match="Invalid outlet 'nowhere' for 'choose'"):
        serve(fn, engine=engine).test(body={"to": "nowhere"})


def test_duplicate_outlets_are_refused(engine: str) -> None:
    fn = sg.new_function("dup-outlet")
    graph = fn.set_topology("flow")
    choose = graph.to("Router", name="choose")
    choose.to(name="a", handler="inc").respond()
    with pytest.raises(RuntimeError, match="duplicate outlet names"):
        serve(fn, engine=engine).test(body={"to": ["a", "a"]})


def _loop_graph(max_graph: int | None = None, max_step: int | None = None) -> sg.ServingFunction:
    fn = sg.new_function("loop")
    graph = fn.set_topology("flow", allow_cyclic=True, max_iterations=max_graph)
    graph.to("Counter", name="counter", max_iterations=max_step).to(
        "LoopUntil", name="check"
    ).cycle_to(["counter"]).to(name="done", handler="(event)").respond()
    return fn


def test_cycle_runs_until_the_condition(engine: str) -> None:
    server = serve(_loop_graph(), engine=engine)
    assert server.test(body={"n": 0, "target": 7}) == {"n": 7, "target": 7}


def test_cycle_stops_at_the_graph_limit(engine: str) -> None:
    server = serve(_loop_graph(max_graph=5), engine=engine)
    with pytest.raises(
        RuntimeError, match=r"Max iterations exceeded in step 'counter' for event e1"
    ):
        server.test(body={"n": 0, "target": 50}, event_id="e1")
    assert server.test(body={"n": 0, "target": 5}) == {"n": 5, "target": 5}


def test_step_limit_wins_over_graph_limit(engine: str) -> None:
    server = serve(_loop_graph(max_graph=100, max_step=3), engine=engine)
    with pytest.raises(RuntimeError, match="Max iterations exceeded in step 'counter'"):
        server.test(body={"n": 0, "target": 10})
    assert server.test(body={"n": 0, "target": 3}) == {"n": 3, "target": 3}


def test_default_limit_is_100(engine: str) -> None:
    server = serve(_loop_graph(), engine=engine)
    assert server.test(body={"n": 0, "target": 100})["n"] == 100
    with pytest.raises(RuntimeError, match="Max iterations exceeded"):
        server.test(body={"n": 0, "target": 101})


def test_limit_error_goes_to_the_error_handler(engine: str) -> None:
    fn = _loop_graph(max_graph=4)
    graph = fn.spec.graph
    assert isinstance(graph, sg.RootFlowStep)
    graph.error_handler(name="catch", handler="steps_lib.describe_error", full_event=True)
    answer = serve(fn, engine=engine).test(body={"n": 0, "target": 9}, event_id="e9")
    assert answer["handled"] is True
    assert answer["origin"] == "counter"
    assert "Max iterations exceeded in step 'counter' for event e9" in answer["error"]


def test_responder_completes_with_complete_outlet(engine: str) -> None:
    class Agent:
        def do(self, body: dict) -> dict:
            return {**body, "n": body["n"] + 1}

        def select_outlets(self, body: dict) -> list[str]:
            return ["Complete"] if body["n"] >= 3 else ["tool"]

    fn = sg.new_function("agent", namespace={"Agent": Agent})
    graph = fn.set_topology("flow", allow_cyclic=True)
    agent = graph.to("Agent", name="agent").respond()
    agent.to(name="tool", handler="(event)").cycle_to(["agent"])
    assert serve(fn, engine=engine, namespace={"Agent": Agent}).test(body={"n": 0}) == {"n": 3}


def test_queue_passes_events_to_child_function_steps(engine: str) -> None:
    steps_lib.seen.clear()
    fn = sg.new_function("parent")
    fn.add_child_function("child")
    graph = fn.set_topology("flow")
    graph.to(name="first", handler="inc").to(">>", "q", path="sg-test-queue").to(
        name="in_child", handler="record", function="child"
    )
    server = serve(fn, engine=engine)
    server.test(body=1)
    server.wait_for_completion()
    assert steps_lib.seen == [2]


def test_current_function_runs_the_child_alone() -> None:
    steps_lib.seen.clear()
    fn = sg.new_function("parent")
    fn.add_child_function("child")
    graph = fn.set_topology("flow")
    graph.to(name="first", handler="inc").to(">>", "q", path="sg-test-queue").to(
        name="c1", handler="(event * 10)", function="child"
    ).to(name="c2", handler="record", function="child")
    server = fn.to_mock_server(current_function="child")
    server.test(body=3)
    server.wait_for_completion()
    assert steps_lib.seen == [30]


def test_step_of_undeclared_child_function_is_refused_for_deployment() -> None:
    fn = sg.new_function("parent")
    graph = fn.set_topology("flow")
    graph.to(name="first", handler="inc").to(">>", "q", path="t").to(
        name="x", handler="inc", function="nochild"
    ).respond()
    # in process (as MLRun's mock server) every function's steps run together ...
    assert fn.to_mock_server().test(body=1) == 3
    # ... but a deployment needs each function declared
    with pytest.raises(sg.GraphError, match="function nochild is used in steps"):
        fn.check_functions()
