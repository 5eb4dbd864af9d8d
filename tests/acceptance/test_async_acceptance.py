"""Acceptance: MLRun's async-engine flow tests (mlrun tests/serving/test_async_flow.py)."""

from __future__ import annotations

import acceptance_steps
import pytest
from acceptance_steps import (  # noqa: F401 - graphs name these classes and handlers
    Chain,
    ChainWithContext,
    EchoError,
    Raiser,
    record_batch,
)

import streamgraph as sg
from streamgraph.testing import serve


@pytest.fixture(autouse=True)
def _reset_recorders():
    acceptance_steps.reset()
    yield
    acceptance_steps.reset()


@pytest.mark.refused_under_exactly_once  # (several steps read one queue topic)
def test_async_basic(engine, tmp_path):
    """Ported from mlrun tests/serving/test_async_flow.py::test_async_basic"""
    function = sg.new_function("tests")
    flow = function.set_topology("flow", engine="async")
    queue = flow.to(name="s1", class_name="ChainWithContext").to("$queue", "q1", path="")

    s2 = queue.to(name="s2", class_name="ChainWithContext", function="some_function")
    s2.to(name="s4", class_name="ChainWithContext")
    s2.to(name="s5", class_name="ChainWithContext").respond()  # this state returns the resp

    queue.to(name="s3", class_name="ChainWithContext", function="some_other_function")

    # plot the graph for test & debug
    flow.plot(str(tmp_path / "async.png"))
    server = serve(function, engine=engine)
    resp = server.test(body=[])

    server.wait_for_completion()
    assert resp == ["s1", "s2", "s5"], "flow result is incorrect"
    # MLRun counts visits in server.context.visits; the step counts them in a module dict
    assert acceptance_steps.visits == {
        "s1": 1,
        "s2": 1,
        "s4": 1,
        "s3": 1,
        "s5": 1,
    }, "flow didnt visit expected states"


def test_async_error_on_missing_function_parameter():
    """Ported from mlrun tests/serving/test_async_flow.py::test_async_error_on_missing_function_parameter"""  # noqa: E501
    function = sg.new_function("tests")
    flow = function.set_topology("flow", engine="async")
    queue = flow.to(name="s1", class_name="ChainWithContext").to("$queue", "q1", path="")

    with pytest.raises(
        sg.GraphError,
        match="step 's2' must specify a function, because it follows a queue step",
    ):
        queue.to(name="s2", class_name="ChainWithContext")


def test_on_error(engine, tmp_path):
    """Ported from mlrun tests/serving/test_async_flow.py::test_on_error"""
    function = sg.new_function("tests")
    graph = function.set_topology("flow", engine="async")
    chain = graph.to("Chain", name="s1")
    chain.to("Raiser").respond().error_handler(
        name="catch", class_name="EchoError", full_event=True
    ).to("Chain", name="s3")

    server = serve(function, engine=engine)
    try:
        # plot the graph for test & debug
        graph.plot(str(tmp_path / "on_error.png"))
        resp = server.test(body=[])
    finally:
        server.wait_for_completion()
    if isinstance(resp, dict):
        assert resp["error"] and resp["origin_state"] == "Raiser", (
            f"error wasn't caught, resp={resp}"
        )
    else:
        assert resp.error and resp.origin_state == "Raiser", f"error wasn't caught, resp={resp}"


@pytest.mark.refused_under_exactly_once  # (a Batch step)
def test_batch(engine):
    """Ported from mlrun tests/serving/test_async_flow.py::test_batch"""
    # storey.ToDataFrame (pandas) is dropped and storey.Reduce is replaced by a step that
    # records each batch; the 0.1 s sleeps between events are dropped (flush_after_seconds=1
    # does not fire before wait_for_completion either way)
    function = sg.new_function("tests")
    graph = function.set_topology("flow", engine="async")
    graph.to("storey.Batch", "my_batching", max_events=3, flush_after_seconds=1).to(
        name="reduce", handler="record_batch"
    )
    server = serve(function, engine=engine)

    events = [{"my_int": i, "my_string": f"this is {i}"} for i in range(10)]

    for event in events:
        server.test(body=event)
    server.wait_for_completion()
    results = acceptance_steps.reduced
    assert len(results) == 4

    for i, batch in enumerate(results[:4]):
        if i < 3:
            assert len(batch) == 3, f"Batch {i} expected 3 rows, got {len(batch)}"
        if i == 3:
            assert len(batch) == 1, f"Batch {i} expected 1 rows, got {len(batch)}"
    assert [row["my_int"] for batch in results for row in batch] == list(range(10))
