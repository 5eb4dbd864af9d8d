"""Turn a declared graph into runnable steps: resolve classes and handlers, wire outlets.

Both engines start from the `Plan` this module builds, so a graph means the same thing in
process and on Kafka. Problems found here (unknown class, no `do`, streaming on top of
streaming) are `GraphError`s naming the step, raised before any event runs.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..errors import GraphError
from ..graph.declared_steps import BaseStep, ErrorStep, QueueStep, RouterStep, TaskStep
from ..graph.flow import RootFlowStep
from ..graph.freeze import frozen_copy
from ..graph.resolve import resolve_callable_args, resolve_class, resolve_handler
from ..graph.validate import check_graph
from .context import GraphContext
from .paths import split_path
from .preparer_registry import graph_preparers
from .step_runtime import StepRuntime

PASSING = {"context", "name"}
PATH_ARGS = ("input_path", "result_path", "full_event")


@dataclass
class Plan:
    """A graph ready to run: steps by name, where events enter, who answers."""

    graph: RootFlowStep
    steps: dict[str, StepRuntime]
    starts: tuple[str, ...]
    responder: str | None
    context: GraphContext
    engine: str = "async"
    cyclic: bool = False
    # an event loop is needed: async steps, streaming, timers (the sync fast path can't serve)
    needs_loop: bool = False
    objects: list[Any] = field(default_factory=list)

    @property
    def acks_at_start(self) -> bool:
        """Whether the caller is answered `{"id"}` as soon as the graph took the event.

        So without a responder: no step's result is the answer, and on Kafka a worker never
        knows when the graph is done with an event. The sync engine answers with the last
        step's result instead."""
        return self.responder is None and self.engine != "sync"

    def close(self) -> None:
        for obj in self.objects:
            closer = getattr(obj, "close", None)
            if callable(closer):
                try:
                    closer()
                except Exception:  # closing must not hide the error that ended the run
                    self.context.logger.exception("closing step object %r failed", obj)


def compile_graph(
    graph: RootFlowStep | RouterStep,
    namespace: dict[str, Any],
    context: GraphContext,
    current_function: str | None = "*",
) -> Plan:
    """Check the graph, instantiate its steps and wire them for `current_function`.

    `"*"` runs every function's steps (queues pass events straight on); a name runs that child
    function's steps alone, from its first step; None runs the parent function's steps.
    """
    flow = frozen_copy(graph)  # compile never edits the declaration
    check_graph(flow)
    context.root = flow
    context.namespace = namespace
    selected = [s for s in flow if _selected(s, current_function)]
    if not selected:
        raise GraphError(f"did not find steps pointing to current function ({current_function})")
    names = {s.name for s in selected}
    plan = Plan(
        graph=flow,
        steps={},
        starts=(),
        responder=None,
        context=context,
        engine=flow.engine,
        cyclic=flow.allow_cyclic,
    )
    prepared = [prepare(flow, selected, namespace, context) for prepare in graph_preparers()]
    for step in selected:
        plan.steps[step.name] = _compile_step(flow, step, names, namespace, context, plan)
    # closed after the steps that use them (shared models)
    plan.objects.extend(obj for obj in prepared if obj is not None)
    plan.starts = tuple(
        s.name for s in selected if not isinstance(s, ErrorStep) and not (set(s.upstream()) & names)
    )
    responders = [s.name for s in selected if s.responder]
    plan.responder = responders[0] if responders else None
    _check_streaming(flow, plan)
    _mark_answer_paths(plan)
    _set_routing_rules(plan)
    plan.needs_loop = any(st.kind != "sync" or st.stateful == "batch" for st in plan.steps.values())
    return plan


def _selected(step: BaseStep, function: str | None) -> bool:
    if function == "*":
        return True
    if function is None or function == "":
        return not step.function or isinstance(step, QueueStep)
    return step.function == function


def _compile_step(
    flow: RootFlowStep,
    step: BaseStep,
    names: set[str],
    namespace: dict[str, Any],
    context: GraphContext,
    plan: Plan,
) -> StepRuntime:
    outlets = tuple(n for n in flow.successors(step.name) if n in names)
    error_target = step.on_error or (
        flow.on_error if not isinstance(step, ErrorStep) and step.name != flow.on_error else None
    )
    if error_target is not None and error_target not in names:
        error_target = None
    common: dict[str, Any] = {
        "outlets": outlets,
        "error_target": error_target,
        "max_iterations": step.max_iterations or flow.default_max_iterations,
        "cyclic": flow.allow_cyclic,
        "function": step.function,
        "responder": step.responder,
    }
    if isinstance(step, QueueStep):
        # in process a queue passes events straight on; a queue with nothing after it keeps
        # what reaches it (the Kafka engine writes those to the queue's topic instead)
        terminal = None if outlets else (step.path or step.name)
        return StepRuntime(step.name, _identity, terminal_queue=terminal, **common)
    assert isinstance(step, TaskStep)
    if isinstance(step, ErrorStep):
        common["outlets"] = tuple(n for n in step.before if n in names)
        common["responder"] = not step.before or step.responder
    call, obj, select, paths_in_class, full_event = _build_callable(flow, step, namespace, context)
    if obj is not None:
        plan.objects.append(obj)
    stateful = getattr(obj, "stateful", None)
    if stateful == "merge":
        obj.upstreams = [n for n in step.upstream() if n in names]
    return StepRuntime(
        step.name,
        None if stateful else call,
        obj=obj,
        full_event=full_event,
        input_keys=() if paths_in_class else split_path(step.input_path),
        result_keys=() if paths_in_class else split_path(step.result_path),
        select=select,
        stateful=stateful,
        is_error_step=isinstance(step, ErrorStep),
        **common,
    )


def _identity(body: Any) -> Any:
    return body


def _build_callable(
    flow: RootFlowStep, step: TaskStep, namespace: dict[str, Any], context: GraphContext
) -> tuple[Callable[..., Any], Any, Callable[[Any], Any] | None, bool, bool]:
    """(callable, step object, outlet selector, whether the class handles its own paths,
    whether the callable takes the full event)."""
    target = step.class_name
    if target is None and isinstance(step, RouterStep):
        target = "ModelRouter"
    if target is None or (
        callable(target) and not isinstance(target, type) and _is_function(target)
    ):
        fn = resolve_handler(step.handler if target is None else target, namespace, step.name)
        if _accepts(fn, "context"):
            fn = functools.partial(fn, context=context)
        return fn, None, None, False, step.full_event
    if isinstance(step, RouterStep) and target is None:
        target = "ModelRouter"  # `"*"` alone means the default model router, as in MLRun
    resolved = resolve_class(target, namespace, step.name)
    if isinstance(resolved, type):
        obj, paths_in_class = _instantiate(flow, step, resolved, namespace, context)
    elif callable(resolved) and _is_function(resolved):
        fn = resolved
        if _accepts(fn, "context"):
            fn = functools.partial(fn, context=context)
        return fn, None, None, False, step.full_event
    else:
        obj, paths_in_class = resolved, False
        _give_context(obj, context)
        if isinstance(step, RouterStep):
            # a router given as an instance (set_topology("router", VotingEnsemble(...))) gets
            # the models added after it, as MLRun's RouterStep passes routes when it inits
            _give_routes(obj, _build_routes(flow, step, namespace, context))
    _post_init(obj, step)
    if getattr(obj, "stateful", None):
        return _identity, obj, getattr(obj, "select_outlets", None), paths_in_class, False
    handler_name = step.handler if isinstance(step.handler, str) else None
    if handler_name:
        if not hasattr(obj, handler_name):
            raise GraphError(
                f"step {step.name}: handler ({handler_name}) specified but doesnt exist in class "
                f"{type(obj).__name__}"
            )
        call = getattr(obj, handler_name)
    elif hasattr(obj, "do_event"):
        return obj.do_event, obj, getattr(obj, "select_outlets", None), paths_in_class, True
    elif hasattr(obj, "do"):
        call = obj.do
    else:
        raise GraphError(
            f"step {step.name} does not have a handler: class {type(obj).__name__} has no do() "
            "method (nor a handler); a step class must define do(event)"
        )
    return call, obj, getattr(obj, "select_outlets", None), paths_in_class, step.full_event


def _instantiate(
    flow: RootFlowStep,
    step: TaskStep,
    cls: type,
    namespace: dict[str, Any],
    context: GraphContext,
) -> tuple[Any, bool]:
    args = resolve_callable_args(step.class_args, namespace, step.name)
    if isinstance(step, RouterStep):
        args["routes"] = _build_routes(flow, step, namespace, context)
    params = _init_params(cls)
    takes_all = "**" in params
    if "context" in params or takes_all:
        args.setdefault("context", context)
    if "name" in params or takes_all:
        args.setdefault("name", step.name)
    # a class that takes input_path/result_path applies them itself (a model server does)
    paths_in_class = False
    for key in PATH_ARGS:
        if key in params and getattr(step, key):
            args.setdefault(key, getattr(step, key))
            paths_in_class = paths_in_class or key != "full_event"
    try:
        obj = cls(**args)
    except TypeError as exc:
        raise GraphError(
            f"failed to init step {step.name}\n args={step.class_args}: {exc}"
        ) from exc
    return obj, paths_in_class


def _build_routes(
    flow: RootFlowStep, router: RouterStep, namespace: dict[str, Any], context: GraphContext
) -> dict[str, Any]:
    routes: dict[str, Any] = {}
    for key, route in router.routes.items():
        if route.class_name is None:
            raise GraphError(f"router {router.name}: route {key} has no model class")
        cls = resolve_class(route.class_name, namespace, f"{router.name}/{key}")
        if isinstance(cls, type):
            obj, _ = _instantiate(flow, route, cls, namespace, context)
        else:
            obj = cls
            _give_context(obj, context)
            if not getattr(obj, "name", None):
                obj.name = key
        _post_init(obj, route)
        routes[key] = obj
    return routes


def _give_context(obj: Any, context: GraphContext) -> None:
    """A step given as an instance gets the context of the graph it is compiled into (also
    when an earlier compile gave it another), unless its owner set a context of their own."""
    if getattr(obj, "context", None) is None or isinstance(obj.context, GraphContext):
        try:
            obj.context = context
        except AttributeError:
            pass


def _give_routes(router: Any, routes: dict[str, Any]) -> None:
    """Routes the instance was built with stay; a declared route of the same key replaces it."""
    own = getattr(router, "routes", None)
    router.routes = {**(own if isinstance(own, dict) else {}), **routes}


def _post_init(obj: Any, step: BaseStep) -> None:
    post_init = getattr(obj, "post_init", None)
    if callable(post_init):
        if "mode" in _init_params(post_init):
            post_init(mode="async")
        else:
            post_init()


def _init_params(fn: Callable[..., Any]) -> set[str]:
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError):
        return set()
    names = set()
    for p in sig.parameters.values():
        if p.kind is inspect.Parameter.VAR_KEYWORD:
            names.add("**")
        else:
            names.add(p.name)
    return names


def _accepts(fn: Callable[..., Any], name: str) -> bool:
    return name in _init_params(fn)


def _is_function(obj: Any) -> bool:
    return inspect.isfunction(obj) or inspect.isbuiltin(obj) or inspect.ismethod(obj)


def _mark_answer_paths(plan: Plan) -> None:
    """Mark which steps can still lead to the responder (all of them when there is none)."""
    if plan.responder is None:
        return
    reach = {plan.responder}
    changed = True
    while changed:
        changed = False
        for name, step in plan.steps.items():
            if name not in reach and (
                any(o in reach for o in step.outlets)
                or (step.error_target is not None and step.error_target in reach)
            ):
                reach.add(name)
                changed = True
    for name, step in plan.steps.items():
        step.reaches_responder = name in reach or step.is_error_step


def _set_routing_rules(plan: Plan) -> None:
    """Give every step the graph-wide rules `core.outcome` routes by."""
    sync = plan.engine == "sync"
    # with one start and no branches, an event a step drops would never be answered otherwise
    linear = len(plan.starts) == 1 and all(len(s.outlets) <= 1 for s in plan.steps.values())
    for step in plan.steps.values():
        step.answers_when_last = sync
        step.outputs_when_last = plan.responder is None
        step.ack_on_drop = linear or plan.acks_at_start
        # what `forward()` decides for every outlet (`core.outcome`'s plain path)
        terminal = not step.outlets
        step.plain_answer = step.responder or (terminal and step.answers_when_last)
        step.plain_output = step.plain_answer or (terminal and step.outputs_when_last)


def _check_streaming(flow: RootFlowStep, plan: Plan) -> None:
    """A streaming step fed, through no Collector, by another streaming step is refused."""
    for name, runtime in plan.steps.items():
        if not runtime.streaming:
            continue
        seen: set[str] = set()
        stack = flow[name].upstream()  # (without the edges that close a cycle)
        while stack:
            upstream = stack.pop()
            if upstream in seen or upstream not in plan.steps:
                continue
            seen.add(upstream)
            up = plan.steps[upstream]
            if up.stateful == "collector":
                continue
            if up.streaming:
                raise GraphError(
                    f"step {name}: streaming on top of streaming is not allowed: it receives the "
                    f"stream of '{upstream}'; put a Collector between them"
                )
            stack.extend(flow[upstream].upstream())
