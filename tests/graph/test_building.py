"""Declaring graphs: chaining, add_step, set_flow, round trips, plots, code files."""

from __future__ import annotations

import json
import shutil
import threading
from pathlib import Path
from typing import Any

import pytest

import streamgraph as sg
from streamgraph.engines.in_process import LocalServer


def inc(x: int) -> int:
    return x + 1


def test_to_chains_and_names_default_to_class_or_handler() -> None:
    fn = sg.new_function("b")
    graph = fn.set_topology("flow")
    last = graph.to("storey.Map", _fn="(event)").to(handler="inc").to(handler="json.dumps")
    assert [s.name for s in graph] == ["Map", "inc", "dumps"]
    assert last.after == ["inc"]
    assert graph["inc"].after == ["Map"]


def test_to_with_after_argument_is_an_extra_upstream_not_a_class_arg() -> None:
    fn = sg.new_function("b")
    graph = fn.set_topology("flow")
    graph.to(name="pre", handler="inc").to(name="gen", handler="inc", after="pre")
    assert graph["gen"].after == ["pre"]
    assert graph["gen"].class_args == {}  # type: ignore[attr-defined]


def test_add_step_after_prev_and_before() -> None:
    fn = sg.new_function("b")
    graph = fn.set_topology("flow")
    graph.add_step(name="a", handler="inc")
    graph.add_step(name="c", handler="(event * 10)", after="$prev")
    graph.add_step(name="b", handler="(event * 2)", after="a", before="c")
    assert graph["c"].after == ["b"]  # b was inserted between a and c
    graph["c"].respond()
    assert fn.to_mock_server().test(body=1) == 40


def test_set_flow_and_force() -> None:
    fn = sg.new_function("b")
    graph = fn.set_topology("flow")
    graph.set_flow([{"name": "one", "handler": "inc"}, {"name": "two", "handler": "(event * 3)"}])
    with pytest.raises(sg.GraphError, match="force=True"):
        graph.set_flow([{"name": "x", "handler": "inc"}])
    last = graph.set_flow(
        [{"name": "x", "handler": "inc"}, {"name": "y", "handler": "(event * 5)"}], force=True
    )
    last.respond()
    assert list(graph.steps) == ["x", "y"]
    assert fn.to_mock_server().test(body=1) == 10


def test_cycle_to_returns_the_step_for_chaining() -> None:
    fn = sg.new_function("b")
    graph = fn.set_topology("flow", allow_cyclic=True)
    gen = graph.to(name="gen", handler="inc")
    check = gen.to(name="check", handler="(event)")
    assert check.cycle_to(["gen"]) is check
    out = check.to(name="out", handler="(event)")
    assert graph["gen"].cycle_from == ["check"]
    assert out.after == ["check"]


def test_error_handler_returns_the_original_step() -> None:
    fn = sg.new_function("b")
    graph = fn.set_topology("flow")
    step = graph.to(name="a", handler="inc")
    assert step.error_handler(name="h", handler="inc") is step
    assert step.on_error == "h"


def test_to_dict_round_trip_is_plain_json_and_runs_the_same() -> None:
    fn = sg.new_function("rt")
    graph = fn.set_topology("flow", allow_cyclic=True, max_iterations=7)
    graph.to(name="a", handler="inc").to("storey.Map", name="m", _fn="(event * 2)").to(
        name="c", handler="tests_graph_helpers_never", max_iterations=3
    )
    graph["c"].after = ["m"]
    graph.error_handler(name="err", handler="inc")
    data = graph.to_dict()
    text = json.dumps(data)
    rebuilt = sg.graph_from_dict(json.loads(text))
    assert isinstance(rebuilt, sg.RootFlowStep)
    assert rebuilt.to_dict() == data
    assert rebuilt.allow_cyclic and rebuilt.max_iterations == 7
    assert rebuilt["c"].max_iterations == 3
    assert rebuilt.on_error == "err"


def test_round_tripped_graph_serves_like_the_original() -> None:
    fn = sg.new_function("rt2")
    graph = fn.set_topology("flow")
    graph.to(name="a", handler="inc").to("storey.Map", name="m", _fn="(event * 2)").respond()
    rebuilt = sg.graph_from_dict(json.loads(json.dumps(graph.to_dict())))
    assert (
        LocalServer(rebuilt, namespace={"inc": inc}).test(body=4)
        == fn.to_mock_server().test(body=4)
        == 10
    )


def test_plot_writes_dot_and_renders_svg(tmp_path: Path) -> None:
    fn = sg.new_function("p")
    graph = fn.set_topology("flow", allow_cyclic=True)
    graph.to(name="a", handler="inc").to(name="b", handler="inc").cycle_to(["a"]).respond()
    dot = graph.plot(str(tmp_path / "g.dot"), rankdir="LR")
    assert "rankdir=LR" in dot
    assert '"b" -> "a" [style=dashed]' in dot
    assert (tmp_path / "g.dot").read_text() == dot
    if shutil.which("dot") is None:
        with pytest.raises(RuntimeError, match="Graphviz"):
            graph.plot(str(tmp_path / "g.svg"))
    else:
        graph.plot(str(tmp_path / "g.svg"))
        assert (tmp_path / "g.svg").read_text().lstrip().startswith(("<?xml", "<svg"))


def test_code_to_function_loads_steps_from_a_file(tmp_path: Path) -> None:
    code = tmp_path / "my_steps.py"
    code.write_text(
        "class Greeter:\n"
        "    def __init__(self, greeting='hello', **kw):\n"
        "        self.greeting = greeting\n"
        "    def do(self, event):\n"
        "        return f'{self.greeting} {event}'\n"
    )
    fn = sg.code_to_function("greeter", filename=str(code))
    fn.set_topology("flow").to("Greeter", name="g", greeting="hi").respond()
    assert fn.to_mock_server().test(body="you", content_type="application/text") == "hi you"


def test_code_to_function_missing_file() -> None:
    with pytest.raises(sg.GraphError, match="does not exist"):
        sg.code_to_function("x", filename="/nonexistent/steps.py")


class Scale:
    """A step given to to() as an instance: its args live on as attributes."""

    def __init__(self, factor: int = 1, lock: Any = None) -> None:
        self.factor = factor
        self.lock = lock

    def do(self, event: int) -> int:
        return event * self.factor


def test_a_step_instance_keeps_its_data_args_through_to_dict() -> None:
    fn = sg.new_function("inst")
    graph = fn.set_topology("flow")
    graph.to(Scale(factor=3, lock=threading.Lock()), name="scale").respond()
    data = json.loads(json.dumps(graph.to_dict()))
    # the data arg is kept; a live object cannot go into a spec file, so the default applies
    assert data["steps"]["scale"]["class_args"] == {"factor": 3}
    rebuilt = sg.graph_from_dict(data)
    assert LocalServer(rebuilt, namespace={"Scale": Scale}).test(body=2) == 6
