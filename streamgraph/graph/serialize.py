"""Graphs from plain JSON-able data: `graph_from_dict(graph.to_dict())` rebuilds the graph
(each step writes itself in `to_dict()`, with the references of `refs.py`)."""

from __future__ import annotations

from typing import Any

from ..errors import GraphError
from .declared_steps import BaseStep, ErrorStep, QueueStep, RouterStep, TaskStep
from .flow import RootFlowStep


def graph_from_dict(data: dict[str, Any]) -> RootFlowStep | RouterStep:
    """Rebuild a graph from `to_dict()` output (names are resolved later, when it runs)."""
    kind = data.get("kind", "flow")
    if kind == "router":
        router = _step_from_dict(data)
        if not isinstance(router, RouterStep):
            raise GraphError("router data does not describe a router")
        return router
    if kind != "flow":
        raise GraphError(f"unknown graph kind {kind!r}, expected 'flow' or 'router'")
    graph = RootFlowStep(
        engine=data.get("engine", "async"),
        allow_cyclic=bool(data.get("allow_cyclic", False)),
        max_iterations=data.get("max_iterations"),
    )
    for name, step_data in data.get("steps", {}).items():
        step = _step_from_dict({**step_data, "name": name})
        step.set_parent(graph)
        graph.steps[name] = step
    graph.on_error = data.get("on_error")
    graph.shared_models = {k: dict(v) for k, v in data.get("shared_models", {}).items()}
    return graph


def _step_from_dict(data: dict[str, Any]) -> BaseStep:
    kind = data.get("kind", "task")
    name = data["name"]
    step: BaseStep
    if kind == "queue":
        step = QueueStep(name, data.get("path"), **data.get("options", {}))
    elif kind in ("task", "router", "error_step"):
        cls = {"task": TaskStep, "router": RouterStep, "error_step": ErrorStep}[kind]
        step = cls(
            data.get("class_name"),
            data.get("class_args"),
            data.get("handler"),
            name=name,
            full_event=data.get("full_event"),
            input_path=data.get("input_path"),
            result_path=data.get("result_path"),
        )
        if isinstance(step, RouterStep):
            for key, route in data.get("routes", {}).items():
                step.routes[key] = _step_from_dict({**route, "name": key})  # type: ignore[assignment]
        if isinstance(step, ErrorStep):
            step.before = list(data.get("before", []))
            step.base_step = data.get("base_step")
    else:
        raise GraphError(f"step {name}: unknown step kind {kind!r}")
    step.after = list(data.get("after", []))
    step.on_error = data.get("on_error")
    step.max_iterations = data.get("max_iterations")
    step.cycle_from = list(data.get("cycle_from", []))
    step.function = data.get("function")
    step.comment = data.get("comment")
    step.responder = bool(data.get("responder", False))
    return step
