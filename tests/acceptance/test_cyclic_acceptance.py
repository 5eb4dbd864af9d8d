"""Acceptance: MLRun's cyclic-graph tests (mlrun tests/serving/test_async_flow.py)."""

from __future__ import annotations

import pytest
from acceptance_steps import Counter, Echo, Route  # noqa: F401 - graphs name these classes

import streamgraph as sg
from streamgraph.testing import serve


@pytest.mark.parametrize("method", ["add_step", "to"])
def test_cyclic_graph(engine, method):
    """Ported from mlrun tests/serving/test_async_flow.py::test_cyclic_graph"""
    function = sg.new_function("tests")
    graph = function.set_topology("flow", engine="async", allow_cyclic=True)

    if method == "to":
        graph.to(name="start", class_name="Echo").to(class_name="Counter", name="count").to(
            name="route", class_name="Route", cycle_to="count"
        ).to(name="end", class_name="Echo").respond()
    else:
        graph.add_step(name="start", class_name="Echo")
        graph.add_step(name="count", class_name="Counter", after="start")
        graph.add_step(name="route", class_name="Route", cycle_to="count", after="count")
        graph.add_step(name="end", class_name="Echo", after="route").respond()

    server = serve(function, engine=engine)
    try:
        resp = server.test(body={"counter": 1})
        assert resp["counter"] == 5
    finally:
        server.wait_for_completion()


@pytest.mark.parametrize("method", ["add_step", "to"])
def test_cyclic_to_first_step(engine, method):
    """Ported from mlrun tests/serving/test_async_flow.py::test_cyclic_to_first_step"""
    function = sg.new_function("tests")
    graph = function.set_topology("flow", engine="async", allow_cyclic=True)

    if method == "to":
        graph.to(class_name="Counter", name="count").to(
            name="route", class_name="Route", cycle_to="count"
        ).to(name="end", class_name="Echo").respond()
    else:
        graph.add_step(name="count", class_name="Counter")
        graph.add_step(name="route", class_name="Route", cycle_to="count", after="count")
        graph.add_step(name="end", class_name="Echo", after="route").respond()

    server = serve(function, engine=engine)
    try:
        resp = server.test(body={"counter": 1})
        assert resp["counter"] == 5
    finally:
        server.wait_for_completion()


@pytest.mark.parametrize("method", ["add_step", "to"])
@pytest.mark.parametrize("max_iter", ["local", "global"])
def test_max_iter_of_cyclic_graph(engine, method, max_iter):
    """Ported from mlrun tests/serving/test_async_flow.py::test_max_iter_of_cyclic_graph"""
    function = sg.new_function("tests")
    graph = function.set_topology(
        "flow",
        engine="async",
        allow_cyclic=True,
        max_iterations=1 if max_iter == "global" else 10,
    )
    if method == "to":
        graph.to(name="start", class_name="Echo").to(class_name="Counter", name="count").to(
            name="route",
            class_name="Route",
            cycle_to="count",
            max_iterations=1 if max_iter == "local" else None,
        ).to(name="end", class_name="Echo").respond()
    else:
        graph.add_step(name="start", class_name="Echo")
        graph.add_step(name="count", class_name="Counter", after="start")
        graph.add_step(
            name="route",
            class_name="Route",
            cycle_to="count",
            after="count",
            max_iterations=1,
        )
        graph.add_step(name="end", class_name="Echo", after="route").respond()
    if max_iter == "local":
        expected_error = r"Max iterations exceeded in step 'route'"
    else:
        expected_error = r"Max iterations exceeded in step 'count'"

    server = serve(function, engine=engine)
    try:
        with pytest.raises(RuntimeError, match=rf"{expected_error}"):
            server.test(body={"counter": 1})
    finally:
        server.wait_for_completion()


def test_default_max_iter_of_cyclic_graph(engine):
    """Ported from mlrun tests/serving/test_async_flow.py::test_default_max_iter_of_cyclic_graph"""
    function = sg.new_function("tests")
    graph = function.set_topology("flow", engine="async", allow_cyclic=True)
    graph.to(name="start", class_name="Echo").to(class_name="Counter", name="count").to(
        name="route",
        class_name="Route",
        cycle_to="count",
    ).to(name="end", class_name="Echo").respond()

    expected_error = r"Max iterations exceeded in step 'count'"

    server = serve(function, engine=engine)
    try:
        with pytest.raises(RuntimeError, match=rf"{expected_error}"):
            server.test(body={"counter": -300})
    finally:
        server.wait_for_completion()


def test_invalid_cyclic_graph_definitions():
    """Ported from mlrun tests/serving/test_async_flow.py::test_invalid_cyclic_graph_definitions"""
    function = sg.new_function("tests")
    graph = function.set_topology("flow", engine="async", allow_cyclic=False)

    with pytest.raises(sg.GraphError, match="cyclic graphs are not allowed, enable allow_cyclic"):
        graph.to(name="start", class_name="Echo").to(class_name="Counter", name="count").to(
            name="route", class_name="Route", cycle_to="count"
        ).to(name="end", class_name="Echo").respond()

    function_sync = sg.new_function("tests-sync")
    with pytest.raises(
        sg.GraphError,
        match=r"Cyclic graphs are not supported with sync engine, please use async engine",
    ):
        function_sync.set_topology("flow", engine="sync", allow_cyclic=True)

    graph = function_sync.set_topology("flow", engine="sync")
    with pytest.raises(
        sg.GraphError,
        match=r"Cyclic graphs are not supported with sync engine, please use async engine",
    ):
        graph.allow_cyclic = True
