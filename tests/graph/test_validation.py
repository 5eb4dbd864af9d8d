"""Build-time checks: a graph that cannot work is refused with a GraphError naming step and rule."""

from __future__ import annotations

import pytest

import streamgraph as sg


def inc(x: int) -> int:
    return x + 1


class NoDo:
    def run(self, x: int) -> int:
        return x


def _flow(**kw: object) -> tuple[sg.ServingFunction, sg.RootFlowStep]:
    fn = sg.new_function("v")
    graph = fn.set_topology("flow", **kw)  # type: ignore[arg-type]
    assert isinstance(graph, sg.RootFlowStep)
    return fn, graph


def test_unknown_class() -> None:
    fn, graph = _flow()
    graph.to("NoSuchClass", name="x")
    with pytest.raises(sg.GraphError, match=r"step x: class 'NoSuchClass' not found"):
        fn.to_mock_server()


def test_unknown_handler() -> None:
    fn, graph = _flow()
    graph.to(name="x", handler="no_such_handler")
    with pytest.raises(sg.GraphError, match=r"step x: handler 'no_such_handler' not found"):
        fn.to_mock_server()


def test_unknown_dotted_handler_module() -> None:
    fn, graph = _flow()
    graph.to(name="x", handler="nomodule_xyz.func")
    with pytest.raises(sg.GraphError, match=r"step x: handler 'nomodule_xyz\.func' not found"):
        fn.to_mock_server()


def test_class_without_do() -> None:
    fn, graph = _flow()
    graph.to("NoDo", name="x")
    with pytest.raises(
        sg.GraphError, match=r"step x does not have a handler: class NoDo has no do\(\)"
    ):
        fn.to_mock_server()


def test_class_with_bad_init_args() -> None:
    fn, graph = _flow()
    graph.to("NoDo", name="x", unexpected=1)
    with pytest.raises(sg.GraphError, match="failed to init step x"):
        fn.to_mock_server()


def test_after_naming_no_step() -> None:
    _, graph = _flow()
    graph.to(name="a", handler="inc")
    with pytest.raises(sg.GraphError, match="there is no step named ghost"):
        graph.add_step(name="b", handler="inc", after="ghost")


def test_before_naming_no_step() -> None:
    _, graph = _flow()
    with pytest.raises(sg.GraphError, match="cant set before, there is no step named ghost"):
        graph.add_step(name="b", handler="inc", before="ghost")


def test_cycle_to_without_allow_cyclic() -> None:
    _, graph = _flow()
    step = graph.to(name="a", handler="inc").to(name="b", handler="inc")
    with pytest.raises(
        sg.GraphError, match="step b: cyclic graphs are not allowed, enable allow_cyclic"
    ):
        step.cycle_to(["a"])


def test_loop_made_with_after_without_allow_cyclic() -> None:
    fn, graph = _flow()
    graph.to(name="s", handler="inc")
    graph.add_step(name="a", handler="inc", after="s")
    graph.add_step(name="b", handler="inc", after="a")
    graph["a"].after_step("b")
    with pytest.raises(sg.GraphError, match="loop detected in step"):
        fn.to_mock_server()


def test_allow_cyclic_set_after_the_fact() -> None:
    _fn, graph = _flow()
    graph.to(name="a", handler="inc")
    graph.allow_cyclic = True
    step = graph["a"].to(name="b", handler="inc")
    assert step.cycle_to(["a"]) is step


def test_two_responders() -> None:
    fn, graph = _flow()
    graph.to(name="a", handler="inc").respond().to(name="b", handler="inc").respond()
    with pytest.raises(sg.GraphError, match=r"more than one responder steps in the graph \(a,b\)"):
        fn.to_mock_server()


def test_step_after_queue_needs_a_function() -> None:
    _, graph = _flow()
    queue = graph.to(name="a", handler="inc").to(">>", "q", path="topic")
    with pytest.raises(
        sg.GraphError, match="step 'b' must specify a function, because it follows a queue"
    ):
        queue.to(name="b", handler="inc")


def test_queue_needs_a_path_and_a_name() -> None:
    _, graph = _flow()
    with pytest.raises(sg.GraphError, match="path=<stream path or None> must be specified"):
        graph.to(">>", "q")
    with pytest.raises(sg.GraphError, match="queue name must be specified"):
        graph.to(">>", path="t")


def test_sync_engine_refuses_branches() -> None:
    fn, graph = _flow(engine="sync")
    a = graph.to(name="a", handler="inc")
    a.to(name="b", handler="inc")
    a.to(name="c", handler="inc")
    with pytest.raises(
        sg.GraphError, match="synchronous flow engine doesnt support branches use async for step a"
    ):
        fn.to_mock_server()


def test_sync_engine_refuses_cycles() -> None:
    _, graph = _flow(engine="sync")
    with pytest.raises(sg.GraphError, match="Cyclic graphs are not supported with sync engine"):
        graph.allow_cyclic = True
    fn = sg.new_function("s")
    with pytest.raises(sg.GraphError, match="Cyclic graphs are not supported with sync engine"):
        fn.set_topology("flow", engine="sync", allow_cyclic=True)


def test_duplicate_step_names() -> None:
    _, graph = _flow()
    graph.to(name="a", handler="inc")
    with pytest.raises(sg.GraphError, match="duplicate step name 'a'"):
        graph.to(name="a", handler="inc")


def test_step_names_must_be_topic_safe() -> None:
    _, graph = _flow()
    with pytest.raises(sg.GraphError, match="step 'a b': names may use letters"):
        graph.to(name="a b", handler="inc")


def test_empty_graph() -> None:
    fn, _ = _flow()
    with pytest.raises(sg.GraphError, match="no models or steps were set"):
        fn.to_mock_server()


def test_class_or_handler_required() -> None:
    _, graph = _flow()
    with pytest.raises(sg.GraphError, match="class_name or handler must be provided"):
        graph.to(name="nothing")
    with pytest.raises(sg.GraphError, match="class_name or handler must be provided"):
        graph.error_handler(name="h")


def test_topology_set_twice_and_unknown_topology() -> None:
    fn = sg.new_function("t")
    fn.set_topology("flow")
    with pytest.raises(sg.GraphError, match="graph topology is already set"):
        fn.set_topology("flow")
    with pytest.raises(sg.GraphError, match="unsupported topology"):
        sg.new_function("u").set_topology("mesh")
