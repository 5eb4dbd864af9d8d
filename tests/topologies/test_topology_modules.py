"""Every example module: its function, Faust app, demo requests and picture."""

from __future__ import annotations

import importlib
from pathlib import Path

import faust
import pytest

import streamgraph as sg
from topologies.pictures import EXAMPLES, draw


@pytest.mark.parametrize("name", EXAMPLES)
def test_module_exposes_function_app_and_demo_requests(name: str) -> None:
    module = importlib.import_module(f"topologies.{name}")
    assert isinstance(module.function, sg.ServingFunction)
    assert isinstance(module.app, faust.App)  # built on this first use
    assert module.DEMO_REQUESTS and isinstance(module.DEMO_REQUESTS, list)
    for request in module.DEMO_REQUESTS:
        assert set(request) <= {"path", "body", "method"}
        assert request["path"].startswith("/")


def test_pictures_show_routes_model_endpoints_and_child_functions(tmp_path: Path) -> None:
    written = draw(tmp_path)
    assert [p.name for p in written] == [f"{name}.svg" for name in EXAMPLES]
    assert all(p.read_text().lstrip().startswith("<?xml") for p in written)
    router = importlib.import_module("topologies.router").function.spec.graph.plot()
    assert '"router" -> "router/model1"' in router and '"router/model2"' in router
    runner = importlib.import_module("topologies.shared_llm").function.spec.graph.plot()
    assert '"model_runner_step/finance_endpoint" -> "shared/shared_llm"' in runner
    assert 'label="shared_llm\\n(shared model)"' in runner
    child = importlib.import_module("topologies.queue_child").function.spec.graph.plot()
    assert 'label="Log-ds\\n(log-ds)"' in child
