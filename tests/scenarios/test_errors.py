"""Scenarios: errors with and without handlers, HTTP statuses."""

from __future__ import annotations

import pytest
from steps_lib import describe_error, fail, inc, not_found, record  # noqa: F401

import streamgraph as sg
from streamgraph.testing import serve


def test_exception_without_handler_is_a_400_with_class_and_message(engine: str) -> None:
    fn = sg.new_function("err")
    fn.set_topology("flow").to(name="boom", handler="fail").respond()
    server = serve(fn, engine=engine)
    with pytest.raises(RuntimeError, match=r"failed \(400\): .*ValueError: bad value 3"):
        server.test(body=3)
    resp = server.test(body=3, silent=True)
    assert resp.status_code == 400
    assert resp.body == {"error": "ValueError: bad value 3"}


def test_http_error_keeps_its_status(engine: str) -> None:
    fn = sg.new_function("err404")
    fn.set_topology("flow").to(name="nf", handler="not_found").respond()
    resp = serve(fn, engine=engine).test(body=1, silent=True)
    assert resp.status_code == 404
    assert resp.body == {"error": "NotFoundError: no such thing 1"}


def test_step_error_handler_gets_error_and_origin(engine: str) -> None:
    fn = sg.new_function("handled")
    graph = fn.set_topology("flow")
    graph.to(name="pre", handler="inc").to(name="boom", handler="fail").error_handler(
        name="catch", handler="describe_error", full_event=True
    ).to(name="never", handler="record").respond()
    answer = serve(fn, engine=engine).test(body=1)
    assert answer == {
        "handled": True,
        "error": "ValueError: bad value 2",
        "origin": "boom",
        "body": 2,
    }


def test_error_handler_with_before_continues_the_graph(engine: str) -> None:
    fn = sg.new_function("continue")
    graph = fn.set_topology("flow")
    graph.to(name="boom", handler="fail").error_handler(name="fix", handler="(-1)", before="after")
    graph.add_step(name="after", handler="(event * 2)", after="boom").respond()
    assert serve(fn, engine=engine).test(body=5) == -2


def test_graph_error_handler_catches_any_step(engine: str) -> None:
    fn = sg.new_function("global")
    graph = fn.set_topology("flow")
    graph.to(name="a", handler="inc").to(name="b", handler="fail").respond()
    graph.error_handler(name="catch", handler="describe_error", full_event=True)
    answer = serve(fn, engine=engine).test(body=1)
    assert answer["origin"] == "b"
    assert answer["error"] == "ValueError: bad value 2"


def test_graph_error_handler_refuses_before() -> None:
    fn = sg.new_function("global")
    graph = fn.set_topology("flow")
    graph.to(name="a", handler="inc")
    with pytest.raises(sg.GraphError, match="`before` arg can't be specified"):
        graph.error_handler(name="catch", handler="describe_error", before="a")


def test_error_in_a_side_branch_does_not_block_the_answer(engine: str) -> None:
    fn = sg.new_function("side")
    graph = fn.set_topology("flow")
    start = graph.to(name="start", handler="inc")
    start.to(name="ok", handler="(event * 2)").respond()
    start.to(name="side", handler="fail")
    server = serve(fn, engine=engine)
    assert server.test(body=1) == 4
    server.wait_for_completion()


def test_server_keeps_serving_after_errors(engine: str) -> None:
    fn = sg.new_function("resilient")
    fn.set_topology("flow").to(name="pick", handler="(1 / event)").respond()
    server = serve(fn, engine=engine)
    assert server.test(body=0, silent=True).status_code == 400
    assert server.test(body=4) == 0.25
