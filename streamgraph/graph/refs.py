"""Classes, instances and handlers as dotted names, as a graph's `to_dict()` writes them."""

from __future__ import annotations

import inspect
from typing import Any

from ..errors import GraphError


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


def plain_value(value: Any) -> Any:
    """A graph-wide setting as JSON-able data: an object with `to_dict()` as its dict."""
    if value is None or isinstance(value, str | int | float | bool | list | dict):
        return value
    to_dict = getattr(value, "to_dict", None)
    return to_dict() if callable(to_dict) else str(value)
