"""Step declarations: pure data describing what a graph does, with no I/O and no engine.

Every step knows its name, the steps it comes after, its error handler and its loop limit.
`to()` chains a new step after this one; the root flow (`flow.RootFlowStep`) owns the steps.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..errors import GraphError
from .names import PREVIOUS_STEP, QUEUE_CLASS_NAMES, ROUTER_PREFIX, default_step_name
from .refs import callable_ref, class_ref

if TYPE_CHECKING:
    from .flow import RootFlowStep


# set on the steps of a compiled graph's copy (`graph.freeze`), which refuse changes
FROZEN = "_frozen"


class BaseStep:
    """What every step has: a name, its upstream steps, an error handler, a loop limit."""

    kind = "base"

    def __setattr__(self, name: str, value: Any) -> None:
        if self.__dict__.get(FROZEN):
            raise GraphError(
                f"step {self.name}: cannot set {name!r} on a compiled graph (a frozen copy of "
                "the declaration); change the declared graph and compile (or serve) it again"
            )
        object.__setattr__(self, name, value)

    def __init__(
        self,
        name: str | None = None,
        after: list[str] | str | None = None,
        max_iterations: int | None = None,
    ) -> None:
        self.name: str = name or ""
        self.after: list[str] = _as_list(after)
        self.max_iterations = max_iterations
        self.on_error: str | None = None
        self.cycle_from: list[str] = []
        self.responder = False
        self.function: str | None = None
        self.comment: str | None = None
        self._parent: RootFlowStep | None = None

    # -- wiring -------------------------------------------------------------------------------
    @property
    def graph(self) -> RootFlowStep:
        """The root flow this step belongs to."""
        if self._parent is None:
            raise GraphError(f"step {self.name} parent is not set or it's not part of a graph")
        return self._parent

    def set_parent(self, parent: RootFlowStep) -> None:
        self._parent = parent

    def upstream(self) -> list[str]:
        """The steps this one comes after, not counting edges that close a cycle."""
        return [name for name in self.after if name not in self.cycle_from]

    def after_step(self, *names: str | BaseStep, append: bool = True) -> BaseStep:
        """Add upstream steps (by name or step object)."""
        if not append:
            self.after = []
        for item in names:
            name = item if isinstance(item, str) else item.name
            if name not in self.after:
                self.after.append(name)
        return self

    def to(
        self,
        class_name: Any = None,
        name: str | None = None,
        handler: Any = None,
        function: str | None = None,
        full_event: bool | None = None,
        input_path: str | None = None,
        result_path: str | None = None,
        max_iterations: int | None = None,
        cycle_to: list[str] | str | None = None,
        **class_args: Any,
    ) -> BaseStep:
        """Add a step right after this one and return it, so calls chain."""
        graph = self.graph
        # MLRun's guide passes `after=` to `to()`; it means "also after these", not a class arg.
        extra_after = _as_list(class_args.pop("after", None))
        class_args.pop("graph_shape", None)
        class_args.pop("model_endpoint_creation_strategy", None)
        step = graph.add_step(
            class_name,
            name=name,
            handler=handler,
            after=[self.name, *[a for a in extra_after if a != self.name]],
            function=function,
            full_event=full_event,
            input_path=input_path,
            result_path=result_path,
            max_iterations=max_iterations,
            **class_args,
        )
        if cycle_to:
            step.cycle_to(cycle_to)
        return step

    def cycle_to(self, step_names: list[str] | str) -> BaseStep:
        """Route this step back to earlier steps (a cycle); returns this step so `.to()` chains."""
        if self._parent is None:
            raise GraphError("cycle_to() can only be called on a step within a graph")
        graph = self._parent
        names = _as_list(step_names)
        if names and not graph.allow_cyclic:
            raise GraphError(
                f"step {self.name}: cyclic graphs are not allowed, enable allow_cyclic "
                "(set_topology('flow', allow_cyclic=True) or graph.allow_cyclic = True)"
            )
        for target in names:
            if target not in graph:
                raise GraphError(f"step {target} doesnt exist in the graph under {graph.name}")
            graph[target].after_step(self.name)
            if self.name not in graph[target].cycle_from:
                graph[target].cycle_from.append(self.name)
        return self

    def respond(self) -> BaseStep:
        """Mark this step as the responder: its result is the answer to the caller."""
        self.responder = True
        return self

    def error_handler(
        self,
        name: str | None = None,
        class_name: Any = None,
        handler: Any = None,
        before: list[str] | str | None = None,
        function: str | None = None,
        full_event: bool | None = None,
        input_path: str | None = None,
        result_path: str | None = None,
        **class_args: Any,
    ) -> BaseStep:
        """Run a handler step when this step raises; returns this step (MLRun semantics).

        With `before`, the event continues to those steps after the handler; without it the
        graph ends after the handler, whose result is the answer.
        """
        if not (class_name or handler):
            raise GraphError("class_name or handler must be provided")
        graph = self.graph
        step = ErrorStep(
            class_name,
            class_args,
            handler,
            name=name or default_step_name(class_name, handler),
            function=function,
            full_event=full_event,
            input_path=input_path,
            result_path=result_path,
        )
        step.before = _as_list(before)
        step.base_step = self.name
        graph._insert(step)
        self.on_error = step.name
        return self

    # -- serialization ------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"kind": self.kind, "name": self.name}
        for key in ("after", "on_error", "max_iterations", "cycle_from", "function", "comment"):
            value = getattr(self, key)
            if value:
                data[key] = list(value) if isinstance(value, list) else value
        if self.responder:
            data["responder"] = True
        return data

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r} after={self.after}>"


class TaskStep(BaseStep):
    """Runs a class (its `do`/`do_event`) or a handler function on each event."""

    kind = "task"

    def __init__(
        self,
        class_name: Any = None,
        class_args: dict[str, Any] | None = None,
        handler: Any = None,
        name: str | None = None,
        after: list[str] | str | None = None,
        full_event: bool | None = None,
        function: str | None = None,
        responder: bool | None = None,
        input_path: str | None = None,
        result_path: str | None = None,
        max_iterations: int | None = None,
    ) -> None:
        super().__init__(name, after, max_iterations)
        self.class_name = class_name
        self.class_args: dict[str, Any] = dict(class_args or {})
        self.handler = handler
        self.function = function
        self.full_event = bool(full_event)
        self.responder = bool(responder)
        self.input_path = input_path
        self.result_path = result_path

    def to_dict(self) -> dict[str, Any]:
        data = super().to_dict()
        if self.class_name is not None:
            data["class_name"], extra_args = class_ref(self.class_name)
            args = {**extra_args, **self.class_args}
            if args:
                data["class_args"] = {k: _plain_arg(v) for k, v in args.items()}
        elif self.class_args:
            data["class_args"] = {k: _plain_arg(v) for k, v in self.class_args.items()}
        if self.handler is not None:
            data["handler"] = callable_ref(self.handler)
        for key in ("full_event", "input_path", "result_path"):
            if getattr(self, key):
                data[key] = getattr(self, key)
        return data


class ErrorStep(TaskStep):
    """An error handler: receives the failed event with `error` and `origin_state` set."""

    kind = "error_step"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.before: list[str] = []
        self.base_step: str | None = None

    def to_dict(self) -> dict[str, Any]:
        data = super().to_dict()
        if self.before:
            data["before"] = list(self.before)
        if self.base_step:
            data["base_step"] = self.base_step
        return data


class RouterStep(TaskStep):
    """Routes each event to one of its model routes (the serving layer supplies the router)."""

    kind = "router"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.routes: dict[str, TaskStep] = {}

    def add_route(
        self,
        key: str,
        route: Any = None,
        class_name: Any = None,
        handler: Any = None,
        function: str | None = None,
        **class_args: Any,
    ) -> TaskStep:
        """Add (or replace) the model route `key`; returns the route's step."""
        if route is None and class_name is None and handler is None:
            raise GraphError("route or class_name must be specified")
        if isinstance(route, TaskStep):
            step = route
        else:
            step = TaskStep(route or class_name, class_args, handler, name=key, function=function)
        step.name = key
        self.routes[key] = step
        return step

    def to_dict(self) -> dict[str, Any]:
        data = super().to_dict()
        data["routes"] = {key: route.to_dict() for key, route in self.routes.items()}
        return data

    def plot(
        self, filename: str | None = None, format: str | None = None, rankdir: str = "TB"
    ) -> str:
        """Draw the router and its routes as Graphviz DOT (rendered when `dot` is installed)."""
        from .plot import plot_graph

        return plot_graph(self, filename=filename, format=format, rankdir=rankdir)


class QueueStep(BaseStep):
    """A queue (`">>"`): events go to a user-named topic; steps after it run in a child function."""

    kind = "queue"

    def __init__(
        self,
        name: str,
        path: str | None = None,
        after: list[str] | str | None = None,
        **options: Any,
    ) -> None:
        super().__init__(name, after)
        self.path = path
        self.options = options

    def to_dict(self) -> dict[str, Any]:
        data = super().to_dict()
        data["path"] = self.path
        if self.options:
            data["options"] = dict(self.options)
        return data


def make_step(
    class_name: Any,
    name: str | None,
    handler: Any,
    class_args: dict[str, Any],
    **step_args: Any,
) -> BaseStep:
    """Turn MLRun's `to()`/`add_step()` arguments into a step (MLRun's `params_to_step`)."""
    if isinstance(class_name, BaseStep):
        step = class_name
        if name:
            step.name = name
        if not step.name:
            raise GraphError("name or class_name must be provided")
        return step
    if isinstance(class_name, dict):
        merged = {**class_name}
        return make_step(
            merged.pop("class_name", None),
            merged.pop("name", None) or name,
            merged.pop("handler", None),
            {**merged.pop("class_args", {}), **merged},
        )
    if isinstance(class_name, str) and class_name in QUEUE_CLASS_NAMES:
        if "path" not in class_args:
            raise GraphError("path=<stream path or None> must be specified for queues")
        if not name:
            raise GraphError("queue name must be specified")
        options = dict(class_args)
        path = options.pop("path")
        return QueueStep(name, path, **options)
    if not (class_name or handler):
        raise GraphError("class_name or handler must be provided")
    name = name or default_step_name(class_name, handler)
    if not name:
        raise GraphError("name or class_name must be provided")
    if isinstance(class_name, str) and class_name.startswith(ROUTER_PREFIX):
        router_class = class_name[len(ROUTER_PREFIX) :] or None
        return RouterStep(router_class, class_args, handler, name=name, **step_args)
    return TaskStep(class_name, class_args, handler, name=name, **step_args)


def resolve_after(after: Any, last_added: str | None) -> list[str]:
    """`after` as a list of names, with `$prev` meaning the last step added."""
    names: list[str] = []
    for item in _as_list(after):
        name = item if isinstance(item, str) else getattr(item, "name", str(item))
        if name == PREVIOUS_STEP:
            if last_added is None:
                continue
            name = last_added
        if name not in names:
            names.append(name)
    return names


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    if isinstance(value, list | tuple):
        return list(value)
    return [value]


def _plain_arg(value: Any) -> Any:
    """Class args as JSON-able data: callables become dotted references."""
    if callable(value) and not isinstance(value, type):
        return callable_ref(value)
    if isinstance(value, type):
        return f"{value.__module__}.{value.__qualname__}"
    return value
