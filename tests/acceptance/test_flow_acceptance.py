"""Acceptance: MLRun's flow tests (mlrun tests/serving/test_flow.py), run on every engine."""

from __future__ import annotations

import pathlib

import pytest
from acceptance_steps import (  # noqa: F401 - graphs name these classes and handlers
    Chain,
    Echo,
    EchoError,
    Gather,
    Mul,
    NotAStep,
    Raiser,
    RespName,
    myfunc1,
    myfunc2,
    return_type,
)

import streamgraph as sg
from streamgraph.testing import serve

ASSETS = pathlib.Path(__file__).parent / "assets"
engines = ["sync", "async"]


def test_basic_flow(engine):
    """Ported from mlrun tests/serving/test_flow.py::test_basic_flow"""
    fn = sg.new_function("tests")
    graph = fn.set_topology("flow", engine="sync")
    graph.add_step(name="s1", class_name="Chain")
    graph.add_step(name="s2", class_name="Chain", after="$prev")
    graph.add_step(name="s3", class_name="Chain", after="$prev")

    server = serve(fn, engine=engine)
    resp = server.test(body=[])
    assert resp == ["s1", "s2", "s3"], "flow1 result is incorrect"

    graph = fn.set_topology("flow", exist_ok=True, engine="sync")
    graph.add_step(name="s2", class_name="Chain")
    graph.add_step(name="s1", class_name="Chain", before="s2")  # should place s1 first
    graph.add_step(name="s3", class_name="Chain", after="s2")

    server = serve(fn, engine=engine)
    resp = server.test(body=[])
    assert resp == ["s1", "s2", "s3"], "flow2 result is incorrect"

    graph = fn.set_topology("flow", exist_ok=True, engine="sync")
    graph.add_step(name="s1", class_name="Chain")
    graph.add_step(name="s3", class_name="Chain", after="$prev")
    graph.add_step(name="s2", class_name="Chain", after="s1", before="s3")

    server = serve(fn, engine=engine)
    resp = server.test(body=[])
    assert resp == ["s1", "s2", "s3"], "flow3 result is incorrect"


@pytest.mark.parametrize("flow_engine", engines)
def test_handler(engine, flow_engine):
    """Ported from mlrun tests/serving/test_flow.py::test_handler"""
    fn = sg.new_function("tests")
    graph = fn.set_topology("flow", engine=flow_engine)
    graph.to(name="s1", handler="(event + 1)").to(name="s2", handler="json.dumps")
    if flow_engine == "async":
        graph["s2"].respond()

    server = serve(fn, engine=engine)
    resp = server.test(body=5)
    if flow_engine == "async":
        server.wait_for_completion()
    # the json.dumps converts the 6 to "6" (string)
    assert resp == "6", f"got unexpected result {resp}"


def test_handler_with_context(engine):
    """Ported from mlrun tests/serving/test_flow.py::test_handler_with_context"""
    fn = sg.new_function("tests")
    graph = fn.set_topology("flow", engine="sync")
    graph.to(name="s1", handler=myfunc1).to(name="s2", handler=myfunc2).to(
        name="s3", handler=myfunc1
    )
    server = serve(fn, engine=engine)
    resp = server.test(body=5)
    # expect 5 * 2 * 2 * 2 = 40
    assert resp == 40, f"got unexpected result {resp}"


def test_init_class(engine):
    """Ported from mlrun tests/serving/test_flow.py::test_init_class"""
    fn = sg.new_function("tests")
    graph = fn.set_topology("flow", engine="sync")
    graph.to(name="s1", class_name="Echo").to(name="s2", class_name="RespName")

    server = serve(fn, engine=engine)
    resp = server.test(body=5)
    assert resp == [5, "s2"], f"got unexpected result {resp}"


def test_step_without_do(engine):
    """Ported from mlrun tests/serving/test_flow.py::test_step_without_do"""
    fn = sg.new_function("tests")
    graph = fn.set_topology("flow", engine="sync")
    graph.to(name="bad", class_name="NotAStep")

    # Divergence (issue #2): a class with no do() is refused when the graph is built, not on
    # the first request; the message keeps MLRun's words.
    with pytest.raises(sg.GraphError, match="step bad does not have a handler"):
        serve(fn, engine=engine)


def test_step_without_do_async_engine(engine):
    """Ported from mlrun tests/serving/test_flow.py::test_step_without_do_async_engine"""
    fn = sg.new_function("tests")
    graph = fn.set_topology("flow", engine="async")
    graph.to(name="bad", class_name="NotAStep")

    # MLRunValueError is a ValueError, as sg.GraphError is
    # Divergence: one message for both engines ("step bad does not have a handler: ...")
    with pytest.raises(ValueError, match="step bad does not have a handler"):
        serve(fn, engine=engine)


def test_on_error(engine):
    """Ported from mlrun tests/serving/test_flow.py::test_on_error"""
    fn = sg.new_function("tests")
    graph = fn.set_topology("flow", engine="sync")
    graph.add_step(name="s1", class_name="Chain")
    graph.add_step(name="raiser", class_name="Raiser", after="$prev").error_handler(
        name="catch", class_name="EchoError", full_event=True
    )
    graph.add_step(name="s3", class_name="Chain", after="$prev")

    server = serve(fn, engine=engine)
    resp = server.test(body=[])
    if isinstance(resp, dict):
        assert resp["error"] and resp["origin_state"] == "raiser", "error wasn't caught"
    else:
        assert resp.error and resp.origin_state == "raiser", "error wasn't caught"


def test_content_type(engine):
    """Ported from mlrun tests/serving/test_flow.py::test_content_type"""
    fn = sg.new_function("tests")
    graph = fn.set_topology("flow", engine="sync")
    graph.to(name="totype", handler=return_type)
    server = serve(fn, engine=engine)

    # test that we json.load() when the content type is json
    resp = server.test(body={"a": 1})
    assert resp == "dict", "invalid type"
    resp = server.test(body="[1,2]")
    assert resp == "list", "did not load json on no type"
    resp = server.test(body={"a": 1}, content_type="application/json")
    assert resp == "dict", "invalid type, should keep dict"
    resp = server.test(body="[1,2]", content_type="application/json")
    assert resp == "list", "did not load json"
    resp = server.test(body="[1,2]", content_type="application/text")
    assert resp == "str", "did not keep as string"
    resp = server.test(body="xx [1,2]")
    assert resp == "str", "did not keep as string"
    resp = server.test(body="xx [1,2]", content_type="application/json", silent=True)
    assert resp.status_code == 400, "did not fail on bad json"

    # test the use of default content type
    fn = sg.new_function("tests")
    fn.spec.default_content_type = "application/json"
    graph = fn.set_topology("flow", engine="sync")
    graph.to(name="totype", handler=return_type)

    server = serve(fn, engine=engine)
    resp = server.test(body="[1,2]")
    assert resp == "list", "did not load json"


@pytest.mark.parametrize("test_type", ["handler", "class"])
@pytest.mark.parametrize("flow_engine", engines)
def test_path_control(engine, flow_engine, test_type):
    """Ported from mlrun tests/serving/test_flow.py::test_path_control"""
    path_control_tests = {"handler": (myfunc2, None), "class": (None, "Mul")}
    function = sg.new_function("test")
    flow = function.set_topology("flow", engine=flow_engine)

    handler, class_name = path_control_tests[test_type]

    # function input will be event["x"] and result will be written to event["y"]["z"]
    flow.to(class_name, handler=handler, name="x2", input_path="x", result_path="y.z").respond()

    server = serve(function, engine=engine)
    resp = server.test(body={"x": 5})
    server.wait_for_completion()
    # expect y.z = x * 2 = 10
    assert resp == {"x": 5, "y": {"z": 10}}, "wrong resp"


def test_module_load(engine):
    """Ported from mlrun tests/serving/test_flow.py::test_module_load"""
    # test that the functions and classes are imported automatically from the function code
    function_path = str(ASSETS / "myfunc.py")

    def check_function(name, fn):
        graph = fn.set_topology("flow", engine="sync")
        graph.to(name="s1", class_name="MyCls").to(name="s2", handler="myhand")

        server = serve(fn, engine=engine)
        resp = server.test(body=5)
        # result should be 5 * 2 * 2 = 20
        assert resp == 20, f"got unexpected result {resp} with {name}"

    check_function("code_to_function", sg.code_to_function("test1", filename=function_path))


def test_set_flow_error(engine):
    """Ported from mlrun tests/serving/test_flow.py::test_set_flow_error"""
    fn = sg.new_function("tests")
    graph = fn.set_topology("flow", engine="sync")
    s1 = dict(name="s1", handler="(event + 1)")
    s2 = dict(name="s2", handler="json.dumps")
    graph.to(**s1).to(**s2)

    r1 = dict(name="r1", handler="(event + 10)")
    r2 = dict(name="r2", handler="json.dumps")
    with pytest.raises(
        sg.GraphError,
        match=r"set_flow\(\) called on a step that already has downstream steps. "
        "If you want to overwrite existing steps, set force=True.",
    ):
        graph.set_flow(steps=[r1, r2])


def test_set_flow(engine):
    """Ported from mlrun tests/serving/test_flow.py::test_set_flow"""
    fn = sg.new_function("tests")
    graph = fn.set_topology("flow", engine="sync")
    s1 = dict(name="s1", handler="(event + 1)")
    s2 = dict(name="s2", handler="json.dumps")
    graph.to(**s1).to(**s2)

    r1 = dict(name="r1", handler="(event + 10)")
    r2 = dict(name="r2", handler="json.dumps")
    graph.set_flow(steps=[r1, r2], force=True)

    server = serve(fn, engine=engine)
    resp = server.test(body=5)
    assert resp == "15"


@pytest.mark.parametrize(
    "make_steps",
    [
        lambda: [
            dict(name="r1", handler="(event + 10)"),
            dict(name="r2", handler="json.dumps"),
        ],
        lambda: [
            sg.TaskStep(name="r1", handler="(event + 10)"),
            sg.TaskStep(name="r2", handler="json.dumps"),
        ],
        lambda: [
            sg.QueueStep(name="r1", handler="(event + 10)"),
        ],
    ],
    ids=["dicts", "task_steps", "queue_step"],
)
def test_set_flow_names(make_steps):
    """Ported from mlrun tests/serving/test_flow.py::test_set_flow_names"""
    steps = make_steps()
    fn = sg.new_function("tests")
    graph = fn.set_topology("flow", engine="sync")
    graph.set_flow(steps=steps, force=True)
    expected = (
        [step["name"] for step in steps]
        if isinstance(steps[0], dict)
        else [step.name for step in steps]
    )
    assert list(graph.to_dict()["steps"].keys()) == expected


def test_sync_flow_with_branches(engine):
    """Ported from mlrun tests/serving/test_flow.py::test_sync_flow_with_branches"""
    fn = sg.new_function("tests")
    graph = fn.set_topology("flow", engine="sync")
    graph.to(name="s1", class_name="Mul")
    graph.to(name="s2", class_name="Mul")
    graph.add_step(name="gather", class_name="Gather", after=["s1", "s2"])
    with pytest.raises(sg.GraphError):
        serve(fn, engine=engine)


def test_queue_step_function_attribute():
    """Ported from mlrun tests/serving/test_flow.py::test_queue_step_function_attribute"""
    # (only the public part: QueueStep._is_local_function is MLRun-internal)
    fn = sg.new_function("tests")
    graph = fn.set_topology("flow", engine="async")
    graph.to(">>", name="q1", path="dummy://test", function="child_func")
    assert graph.steps["q1"].function == "child_func"
