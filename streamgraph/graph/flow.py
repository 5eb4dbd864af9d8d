"""The root flow: owns the steps of a graph and the graph-wide settings."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from ..errors import GraphError
from .declared_steps import BaseStep, ErrorStep, QueueStep, TaskStep, make_step, resolve_after
from .names import DEFAULT_MAX_ITERATIONS, topic_safe
from .refs import class_ref, plain_value

ENGINES = ("async", "sync")


class RootFlowStep(BaseStep):
    """A flow of steps: `graph.to(...)`, `graph.add_step(...)`, `graph["name"]`."""

    kind = "flow"

    def __init__(
        self,
        name: str = "",
        engine: str = "async",
        allow_cyclic: bool = False,
        max_iterations: int | None = None,
    ) -> None:
        super().__init__(name, None, max_iterations)
        if engine not in ENGINES:
            raise GraphError(f"unsupported engine {engine!r}, use 'async' or 'sync'")
        self.engine = engine
        self.steps: dict[str, BaseStep] = {}
        self.shared_models: dict[str, dict[str, Any]] = {}
        self._allow_cyclic = False
        self._last_added: str | None = None
        self.allow_cyclic = allow_cyclic

    @property
    def allow_cyclic(self) -> bool:
        return self._allow_cyclic

    @allow_cyclic.setter
    def allow_cyclic(self, value: bool) -> None:
        if value and self.engine == "sync":
            raise GraphError(
                "Cyclic graphs are not supported with sync engine, please use async engine"
            )
        self._allow_cyclic = bool(value)

    @property
    def default_max_iterations(self) -> int:
        return self.max_iterations or DEFAULT_MAX_ITERATIONS

    @property
    def graph(self) -> RootFlowStep:
        return self

    # -- mapping access -----------------------------------------------------------------------
    def __getitem__(self, name: str) -> BaseStep:
        try:
            return self.steps[name]
        except KeyError:
            raise GraphError(f"step {name} doesnt exist in the graph") from None

    def __contains__(self, name: object) -> bool:
        return name in self.steps

    def __iter__(self) -> Iterator[BaseStep]:
        return iter(self.steps.values())

    def __len__(self) -> int:
        return len(self.steps)

    # -- building -----------------------------------------------------------------------------
    def add_step(
        self,
        class_name: Any = None,
        name: str | None = None,
        handler: Any = None,
        after: Any = None,
        before: Any = None,
        function: str | None = None,
        full_event: bool | None = None,
        input_path: str | None = None,
        result_path: str | None = None,
        max_iterations: int | None = None,
        cycle_to: list[str] | str | None = None,
        **class_args: Any,
    ) -> BaseStep:
        """Add a step after `after` (a name, `"$prev"` or a list) and before `before`."""
        class_args.pop("graph_shape", None)
        class_args.pop("model_endpoint_creation_strategy", None)
        step_args: dict[str, Any] = {}
        if not isinstance(class_name, BaseStep) and not (
            isinstance(class_name, str) and class_name in (">>", "$queue")
        ):
            step_args = {
                "function": function,
                "full_event": full_event,
                "input_path": input_path,
                "result_path": result_path,
                "max_iterations": max_iterations,
            }
        step = make_step(class_name, name, handler, class_args, **step_args)
        if isinstance(step, QueueStep) and function:
            step.function = function
        after_names = resolve_after(after, self._last_added)
        for upstream in after_names:
            if upstream not in self.steps:
                raise GraphError(f"cant set after, there is no step named {upstream}")
        before_names = resolve_after(before, None)
        for downstream in before_names:
            if downstream not in self.steps:
                raise GraphError(f"cant set before, there is no step named {downstream}")
            if downstream in after_names:
                raise GraphError(
                    f"graph loop, step {downstream} is specified in before and/or after {step.name}"
                )
        for upstream in after_names:
            if isinstance(self.steps[upstream], QueueStep) and not step.function:
                raise GraphError(
                    f"step '{step.name}' must specify a function, because it follows a queue step"
                )
        step.after_step(*after_names)
        self._insert(step)
        for downstream in before_names:
            # inserting between: the downstream step now comes after the new step instead
            target = self.steps[downstream]
            target.after = [name for name in target.after if name not in after_names]
            target.after_step(step.name)
        if cycle_to:
            step.cycle_to(cycle_to)
        return step

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
        """On the root, `to()` adds a starting step (one fed by the graph's input)."""
        after = class_args.pop("after", None)
        return self.add_step(
            class_name,
            name=name,
            handler=handler,
            after=after,
            function=function,
            full_event=full_event,
            input_path=input_path,
            result_path=result_path,
            max_iterations=max_iterations,
            cycle_to=cycle_to,
            **class_args,
        )

    def set_flow(self, steps: list[Any], force: bool = False) -> BaseStep:
        """Replace the graph's steps with a chain of `steps` (objects, class names or dicts)."""
        if self.steps and not force:
            raise GraphError(
                "set_flow() called on a step that already has downstream steps. If you want to "
                "overwrite existing steps, set force=True."
            )
        self.steps.clear()
        self._last_added = None
        last: BaseStep | None = None
        for item in steps:
            if isinstance(item, dict):
                args = dict(item)
                args.update(args.pop("class_args", {}))
                step = self.add_step(after=last.name if last else None, **args)
            else:
                step = self.add_step(item, after=last.name if last else None)
            last = step
        if last is None:
            raise GraphError("set_flow() needs at least one step")
        return last

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
        """The graph-wide error handler: any failing step without its own goes here, then ends."""
        if before:
            raise GraphError("`before` arg can't be specified for graph error handler")
        return super().error_handler(
            name,
            class_name,
            handler,
            None,
            function,
            full_event,
            input_path,
            result_path,
            **class_args,
        )

    def add_shared_model(
        self,
        name: str,
        model_class: Any,
        execution_mechanism: str = "naive",
        model_artifact: Any = None,
        input_path: str | None = None,
        result_path: str | None = None,
        override: bool = False,
        **model_params: Any,
    ) -> None:
        """Declare ONE model instance that model runners reach through proxies.

        `model_artifact` may be a plain key (`"my-model"`): as in MLRun it is a reference the
        model reads when it loads (`self.model_artifact.key`), not a file looked up here.
        """
        if execution_mechanism == "shared_executor":
            raise GraphError("Cannot add a shared model with execution mechanism 'shared_executor'")
        if name in self.shared_models and not override:
            raise GraphError(f"Model with name {name} already exists in this graph.")
        self.shared_models[name] = {
            "model_class": model_class,
            "execution_mechanism": execution_mechanism,
            "model_artifact": model_artifact,
            "input_path": input_path,
            "result_path": result_path,
            **model_params,
        }

    def _insert(self, step: BaseStep) -> None:
        if not step.name:
            raise GraphError("name or class_name must be provided")
        if step.name in self.steps and self.steps[step.name] is not step:
            raise GraphError(
                f"duplicate step name {step.name!r}: every step in a graph needs its own name"
            )
        if topic_safe(step.name) != step.name:
            raise GraphError(
                f"step {step.name!r}: names may use letters, digits, '.', '_' and '-' only "
                "(they become Kafka topic names)"
            )
        step.set_parent(self)
        self.steps[step.name] = step
        if not isinstance(step, ErrorStep):
            self._last_added = step.name

    # -- queries used by validation and engines ------------------------------------------------
    def successors(self, name: str) -> list[str]:
        """Steps directly after `name`, in declaration order (error handlers excluded)."""
        found = [s.name for s in self.steps.values() if name in s.after]
        step = self.steps.get(name)
        if isinstance(step, ErrorStep):
            found = [*step.before, *[n for n in found if n not in step.before]]
        return found

    def start_steps(self, function: str | None = None) -> list[str]:
        """Steps fed by the graph input: no upstream (error handlers never start a graph)."""
        return [
            s.name
            for s in self.steps.values()
            if not s.upstream() and not isinstance(s, ErrorStep) and _in_function(s, function)
        ]

    def responders(self) -> list[str]:
        return [s.name for s in self.steps.values() if s.responder]

    def functions(self) -> list[str]:
        """Child functions named by steps (the parent function is None)."""
        names: list[str] = []
        for step in self.steps.values():
            if step.function and step.function not in names and not isinstance(step, QueueStep):
                names.append(step.function)
        return names

    def check(self) -> None:
        """Validate the whole graph now (also done by every engine before it starts)."""
        from .validate import check_graph

        check_graph(self)

    # -- serialization, plotting (running is the function's: ServingFunction.to_mock_server) --
    def to_dict(self) -> dict[str, Any]:
        """The graph as JSON-able data; `serialize.graph_from_dict` rebuilds it."""
        data: dict[str, Any] = {
            "kind": "flow",
            "engine": self.engine,
            "steps": {name: step.to_dict() for name, step in self.steps.items()},
        }
        if self.allow_cyclic:
            data["allow_cyclic"] = True
        if self.max_iterations:
            data["max_iterations"] = self.max_iterations
        if self.on_error:
            data["on_error"] = self.on_error
        if self.shared_models:
            data["shared_models"] = {
                name: {
                    k: (class_ref(v)[0] if k == "model_class" else plain_value(v))
                    for k, v in spec.items()
                }
                for name, spec in self.shared_models.items()
            }
        return data

    def plot(
        self,
        filename: str | None = None,
        format: str | None = None,
        rankdir: str = "TB",
        **kw: Any,
    ) -> str:
        """Write the graph as Graphviz DOT (rendered with `dot` when present); returns the DOT."""
        from .plot import plot_graph

        return plot_graph(self, filename=filename, format=format, rankdir=rankdir)


def _in_function(step: BaseStep, function: str | None) -> bool:
    if function is None or function == "*":
        return True
    return step.function == function


__all__ = ["ENGINES", "RootFlowStep", "TaskStep"]
