"""Scenarios: flows, branches, paths, content types, full events (every engine)."""

from __future__ import annotations

import pytest
import steps_lib
from steps_lib import Adder, EventEcho, double, inc, record, with_context  # noqa: F401

import streamgraph as sg
from streamgraph.engines.in_process import LocalServer
from streamgraph.testing import serve


def flow(name: str = "f", engine_kind: str = "async") -> tuple[sg.ServingFunction, sg.RootFlowStep]:
    fn = sg.new_function(name)
    graph = fn.set_topology("flow", engine=engine_kind)
    assert isinstance(graph, sg.RootFlowStep)
    return fn, graph


def test_chain_of_handlers_and_expressions(engine: str) -> None:
    fn, graph = flow()
    graph.to(name="a", handler="inc").to(name="b", handler="(event * 10)").to(
        name="c", handler="steps_lib.double"
    ).respond()
    assert serve(fn, engine=engine).test(body=1) == 40


def test_sync_engine_returns_last_result(engine: str) -> None:
    fn, graph = flow(engine_kind="sync")
    graph.to(name="a", handler="inc").to("Adder", name="b", amount=5)
    assert serve(fn, engine=engine).test(body=1) == 7


def test_class_step_gets_args_context_and_post_init(engine: str) -> None:
    fn, graph = flow()
    graph.to("Adder", name="add", amount=3).respond()
    assert serve(fn, engine=engine).test(body=4) == 7


def test_class_by_object_and_instance(engine: str) -> None:
    fn, graph = flow()
    graph.to(Adder, name="cls", amount=2).to(Adder(amount=10), name="inst").respond()
    server = serve(fn, engine=engine)
    assert server.test(body=0) == 12


def test_no_responder_answers_with_event_id(engine: str) -> None:
    fn, graph = flow()
    graph.to(name="a", handler="inc")
    answer = serve(fn, engine=engine).test(body=1, event_id="ev-1")
    assert answer == {"id": "ev-1"}


def test_branches_all_run_and_responder_answers(engine: str) -> None:
    steps_lib.seen.clear()
    fn, graph = flow()
    start = graph.to(name="start", handler="inc")
    start.to(name="left", handler="(event * 100)").to(name="log_left", handler="record")
    start.to(name="right", handler="(event + 1000)").respond()
    server = serve(fn, engine=engine)
    assert server.test(body=1) == 1002
    server.wait_for_completion()
    assert steps_lib.seen == [200]


@pytest.mark.refused_under_exactly_once  # (several steps read the entry topic)
def test_two_start_steps_both_receive_the_event(engine: str) -> None:
    steps_lib.seen.clear()
    fn, graph = flow()
    graph.to(name="one", handler="(event + 1)").to(name="rec1", handler="record")
    graph.to(name="two", handler="(event + 2)").to(name="rec2", handler="record")
    server = serve(fn, engine=engine)
    server.test(body=10)
    server.wait_for_completion()
    assert sorted(steps_lib.seen) == [11, 12]


def test_step_after_two_branches_runs_once_per_branch(engine: str) -> None:
    steps_lib.seen.clear()
    fn, graph = flow()
    graph.to(name="s", handler="inc")
    graph.add_step(name="a", handler="(event * 2)", after="s")
    graph.add_step(name="b", handler="(event * 3)", after="s")
    graph.add_step(name="join", handler="record", after=["a", "b"])
    server = serve(fn, engine=engine)
    server.test(body=1)
    server.wait_for_completion()
    assert sorted(steps_lib.seen) == [4, 6]


def test_merge_waits_for_every_branch_in_after_order(engine: str) -> None:
    fn, graph = flow()
    graph.to(name="s", handler="inc")
    graph.add_step(name="b", handler="(event * 3)", after="s")
    graph.add_step(name="a", handler="(event * 2)", after="s")
    graph.add_step(
        "storey.Merge" if False else "mlrun.serving.Merge", name="m", after=["a", "b"]
    ).respond()
    assert serve(fn, engine=engine).test(body=1) == [4, 6]


def test_input_and_result_paths_keep_the_rest_of_the_body(engine: str) -> None:
    fn, graph = flow()
    graph.to(name="a", handler="inc", input_path="data.b", result_path="out.sum").respond()
    answer = serve(fn, engine=engine).test(body={"data": {"a": 5, "b": 7}, "keep": 1})
    assert answer == {"data": {"a": 5, "b": 7}, "keep": 1, "out": {"sum": 8}}


def test_input_path_on_non_dict_body_is_a_400(engine: str) -> None:
    fn, graph = flow()
    graph.to(name="a", handler="inc", input_path="x").respond()
    resp = serve(fn, engine=engine).test(body=[1, 2], silent=True)
    assert resp.status_code == 400
    assert "input_path" in resp.body["error"]


def test_full_event_step_sees_id_path_method(engine: str) -> None:
    fn, graph = flow()
    graph.to("EventEcho", name="echo", full_event=True).respond()
    answer = serve(fn, engine=engine).test("/some/path", body={"x": 1}, event_id="e7")
    assert answer == {"id": "e7", "path": "/some/path", "method": "POST", "body": {"x": 1}}


def test_get_without_body(engine: str) -> None:
    fn, graph = flow()
    graph.to("EventEcho", name="echo", full_event=True).respond()
    answer = serve(fn, engine=engine).test("/health")
    assert answer["method"] == "GET"
    assert answer["body"] is None


def test_handler_with_context_parameter(engine: str) -> None:
    fn, graph = flow()
    fn.spec.parameters["p"] = "hello"
    graph.to(name="c", handler="with_context").respond()
    assert serve(fn, engine=engine).test(body=3) == {"x": 3, "param": "hello"}


@pytest.mark.parametrize(
    ("body", "content_type", "expected"),
    [
        ('{"a": 1}', None, {"a": 1}),
        (b'{"a": 1}', "application/json", {"a": 1}),
        ("not json", None, "not json"),
        ('{"a": 1}', "application/text", '{"a": 1}'),
    ],
)
def test_content_types(
    engine: str, body: object, content_type: str | None, expected: object
) -> None:
    fn, graph = flow()
    graph.to(name="echo", handler="(event)").respond()
    answer = serve(fn, engine=engine).test(body=body, content_type=content_type)
    assert answer == expected


def test_bad_json_with_json_content_type_is_a_400(engine: str) -> None:
    steps_lib.seen.clear()
    fn, graph = flow()
    graph.to(name="rec", handler="record").respond()
    resp = serve(fn, engine=engine).test(
        body=b"{oops", content_type="application/json", silent=True
    )
    assert resp.status_code == 400
    assert "json" in resp.body["error"].lower()
    assert steps_lib.seen == []


def test_builtin_steps_by_storey_names(engine: str) -> None:
    fn, graph = flow()
    graph.to("storey.Map", name="m", _fn="(event['x'] * 2)").to(
        "storey.Filter", name="f", _fn="(event > 5)"
    ).to("storey.Map", name="wrap", _fn="({'x': event})").to(
        "storey.Extend", name="e", _fn='({"extend": "something"})'
    ).respond()
    server = serve(fn, engine=engine)
    assert server.test(body={"x": 4}) == {"x": 8, "extend": "something"}
    # filtered out before the responder: the answer falls back to the event id
    assert server.test(body={"x": 1}, event_id="low") == {"id": "low"}


def test_flatmap_sends_each_element_on(engine: str) -> None:
    steps_lib.seen.clear()
    fn, graph = flow()
    graph.to(sg.steps.FlatMap(lambda b: b["items"]), name="split").to(name="rec", handler="record")
    server = serve(fn, engine=engine)
    server.test(body={"items": [1, 2, 3]})
    server.wait_for_completion()
    assert steps_lib.seen == [1, 2, 3]


def test_async_handlers(engine: str) -> None:
    fn, graph = flow()
    graph.to(name="a", handler="steps_lib.async_inc").to(name="b", handler="inc").respond()
    assert serve(fn, engine=engine).test(body=1) == 3


async def test_atest_from_async_code(engine: str) -> None:
    fn, graph = flow()
    graph.to(name="a", handler="steps_lib.async_inc").respond()
    server = serve(fn, engine=engine)
    assert await server.atest(body=41) == 42
    server.wait_for_completion()


def test_graph_runs_on_the_local_engine_directly() -> None:
    """A graph alone (no function) runs in process; as in MLRun, `to_mock_server` is the
    function's, the graph has none."""
    _fn, graph = flow()
    graph.to(name="a", handler="inc").respond()
    assert not hasattr(graph, "to_mock_server")
    assert LocalServer(graph, namespace=globals()).test(body=1) == 2
