"""Find the classes and handlers a graph names: in the namespace, by dotted path, or inline.

MLRun graphs name steps by strings (`"MyStep"`, `"storey.Map"`, `"json.dumps"`,
`"(event + 1)"`); this module turns them into Python objects, with clear errors.
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable
from typing import Any

from ..errors import GraphError

# storey/mlrun names that map onto our built-in steps, so MLRun graphs run unchanged.
ALIASES = {
    "storey.Map": "streamgraph.core.builtins.Map",
    "storey.Filter": "streamgraph.core.builtins.Filter",
    "storey.FlatMap": "streamgraph.core.builtins.FlatMap",
    "storey.Extend": "streamgraph.core.builtins.Extend",
    "storey.Batch": "streamgraph.core.builtins.Batch",
    "storey.Collector": "streamgraph.core.builtins.Collector",
    "storey.Choice": "streamgraph.core.builtins.Choice",
    "storey.transformations.Choice": "streamgraph.core.builtins.Choice",
    "mlrun.serving.merger.Merge": "streamgraph.core.builtins.Merge",
    "mlrun.serving.Merge": "streamgraph.core.builtins.Merge",
    "mlrun.serving.steps.ChoiceByField": "streamgraph.core.builtins.ChoiceByField",
    "Map": "streamgraph.core.builtins.Map",
    "Filter": "streamgraph.core.builtins.Filter",
    "FlatMap": "streamgraph.core.builtins.FlatMap",
    "Extend": "streamgraph.core.builtins.Extend",
    "Batch": "streamgraph.core.builtins.Batch",
    "Collector": "streamgraph.core.builtins.Collector",
    "Merge": "streamgraph.core.builtins.Merge",
    "Choice": "streamgraph.core.builtins.Choice",
    "ChoiceByField": "streamgraph.core.builtins.ChoiceByField",
    "mlrun.serving.ModelRouter": "streamgraph.serving.router.ModelRouter",
    "ModelRouter": "streamgraph.serving.router.ModelRouter",
    "mlrun.serving.VotingEnsemble": "streamgraph.serving.ensemble.VotingEnsemble",
    "mlrun.serving.routers.VotingEnsemble": "streamgraph.serving.ensemble.VotingEnsemble",
    "VotingEnsemble": "streamgraph.serving.ensemble.VotingEnsemble",
    "mlrun.serving.V2ModelServer": "streamgraph.serving.v2_server.V2ModelServer",
    "V2ModelServer": "streamgraph.serving.v2_server.V2ModelServer",
    "LLModel": "streamgraph.serving.llm.LLModel",
    "mlrun.serving.states.LLModel": "streamgraph.serving.llm.LLModel",
    "ModelRunnerStep": "streamgraph.serving.model_runner.ModelRunnerStep",
}


def caller_namespace(namespace: dict[str, Any] | None, depth: int = 2) -> dict[str, Any]:
    """The namespace to resolve names in: the one given, else the caller's globals (as MLRun)."""
    if namespace is not None:
        return namespace
    frame = inspect.currentframe()
    try:
        for _ in range(depth):
            if frame is None:
                break
            frame = frame.f_back
        # skip frames inside streamgraph itself, so wrappers don't capture their own globals
        while frame is not None and frame.f_globals.get("__name__", "").startswith("streamgraph."):
            frame = frame.f_back
        return dict(frame.f_globals) if frame is not None else {}
    finally:
        del frame


def resolve_object(path: str, namespace: dict[str, Any], step: str, what: str) -> Any:
    """Look up `path` in the namespace, then as an alias, then as `module.attr` import path."""
    if path in namespace:
        return namespace[path]
    head, _, rest = path.partition(".")
    if rest and head in namespace:
        obj: Any = namespace[head]
        for part in rest.split("."):
            if not hasattr(obj, part):
                break
            obj = getattr(obj, part)
        else:
            return obj
    target = ALIASES.get(path, path)
    module_name, _, attr = target.rpartition(".")
    if module_name:
        try:
            module = importlib.import_module(module_name)
        except ImportError as exc:
            raise GraphError(f"step {step}: {what} {path!r} not found ({exc})") from exc
        if hasattr(module, attr):
            return getattr(module, attr)
    raise GraphError(f"step {step}: {what} {path!r} not found in the namespace or as a module path")


def resolve_class(class_name: Any, namespace: dict[str, Any], step: str) -> Any:
    """A class or a ready instance for `class_name` (a name, dotted path, class or instance)."""
    if isinstance(class_name, str):
        return resolve_object(class_name, namespace, step, "class")
    return class_name


def resolve_handler(handler: Any, namespace: dict[str, Any], step: str) -> Callable[..., Any]:
    """A callable for `handler`: a function, a name, a dotted path or `"(expression)"`."""
    if callable(handler):
        return handler
    if not isinstance(handler, str) or not handler:
        raise GraphError(f"step {step}: handler must be a function or a name, got {handler!r}")
    if handler.startswith("(") and handler.endswith(")"):
        return compile_expression(handler, namespace, step)
    found = resolve_object(handler, namespace, step, "handler")
    if not callable(found):
        raise GraphError(f"step {step}: handler {handler!r} is not callable")
    return found


def compile_expression(expression: str, namespace: dict[str, Any], step: str) -> Callable[..., Any]:
    """`"(event + 1)"` becomes `lambda event: (event + 1)`, evaluated in the namespace."""
    try:
        fn = eval(f"lambda event: {expression}", dict(namespace))
    except SyntaxError as exc:
        raise GraphError(f"step {step}: bad handler expression {expression!r}: {exc}") from exc
    return fn


def resolve_callable_args(
    class_args: dict[str, Any], namespace: dict[str, Any], step: str
) -> dict[str, Any]:
    """Class args whose name starts with `_` are functions (MLRun's `_fn="(event.x)"` rule)."""
    resolved: dict[str, Any] = {}
    for key, value in class_args.items():
        if key.startswith("_") and isinstance(value, str):
            resolved[key[1:]] = resolve_handler(value, namespace, step)
        elif key.startswith("_"):
            resolved[key[1:]] = value
        else:
            resolved[key] = value
    return resolved
