"""Graphs as plain JSON-able data: `graph.to_dict()` and `graph_from_dict(d)` round-trip."""

from __future__ import annotations

import inspect
from typing import Any

from ..errors import GraphError
from .flow import RootFlowStep
from .steps import BaseStep, ErrorStep, QueueStep, RouterStep, TaskStep


def class_ref(class_name: Any) -> tuple[str, dict[str, Any]]:
    """A class, instance or name as a dotted reference, plus the args that rebuild an instance."""
    if isinstance(class_name, str):
        return class_name, {}
    if isinstance(class_name, type):
        return f"{class_name.__module__}.{class_name.__qualname__}", {}
    cls = type(class_name)
    to_dict = getattr(class_name, "to_dict", None)
    args = to_dict() if callable(to_dict) else init_args(class_name)
    return f"{cls.__module__}.{cls.__qualname__}", dict(args) if isinstance(args, dict) else {}


# what the step itself holds (or the engine passes), never a class arg (MLRun's StepToDict)
_STEP_OWNED = frozenset(
    {"self", "context", "name", "input_path", "result_path", "full_event", "kwargs", "routes"}
)


def init_args(instance: Any) -> dict[str, Any]:
    """The args that rebuild `instance`, as MLRun's StepToDict reads them: each parameter of its
    `__init__` kept as an attribute of the same name and not None, plus its `kwargs` dict.
    Values a spec file cannot carry (live objects) are left out: the class's default applies."""
    try:
        names = inspect.signature(type(instance).__init__).parameters
    except (TypeError, ValueError):  # a builtin's __init__ has no signature to read
        return {}
    args = {
        name: getattr(instance, name)
        for name in names
        if name not in _STEP_OWNED and getattr(instance, name, None) is not None
    }
    extra = getattr(instance, "kwargs", None)
    if "kwargs" in names and isinstance(extra, dict):
        args.update(extra)
    return {name: value for name, value in args.items() if _is_data(value)}


def _is_data(value: Any) -> bool:
    """JSON-able data, or a class or function (written as its dotted name)."""
    if value is None or isinstance(value, str | int | float | bool | type):
        return True
    if isinstance(value, list | tuple):
        return all(_is_data(item) for item in value)
    if isinstance(value, dict):
        return all(isinstance(k, str) and _is_data(v) for k, v in value.items())
    return inspect.isfunction(value)


def callable_ref(handler: Any) -> str:
    if isinstance(handler, str):
        return handler
    module = getattr(handler, "__module__", None)
    name = getattr(handler, "__qualname__", None) or getattr(handler, "__name__", None)
    if not name:
        raise GraphError(f"cannot serialize handler {handler!r}: give it a name")
    if module in (None, "__main__", "builtins"):
        return str(name)
    return f"{module}.{name}"


def flow_to_dict(graph: RootFlowStep) -> dict[str, Any]:
    data: dict[str, Any] = {
        "kind": "flow",
        "engine": graph.engine,
        "steps": {name: step.to_dict() for name, step in graph.steps.items()},
    }
    if graph.allow_cyclic:
        data["allow_cyclic"] = True
    if graph.max_iterations:
        data["max_iterations"] = graph.max_iterations
    if graph.on_error:
        data["on_error"] = graph.on_error
    if graph.shared_models:
        data["shared_models"] = {
            name: {
                k: (class_ref(v)[0] if k == "model_class" else _plain(v)) for k, v in spec.items()
            }
            for name, spec in graph.shared_models.items()
        }
    return data


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


def _plain(value: Any) -> Any:
    if value is None or isinstance(value, str | int | float | bool | list | dict):
        return value
    to_dict = getattr(value, "to_dict", None)
    return to_dict() if callable(to_dict) else str(value)
