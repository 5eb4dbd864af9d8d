"""Topology checks run when a graph is built, before anything connects.

Each failure is a `GraphError` naming the step and the rule it breaks. Checks that need the
step classes (unknown class, missing `do`, streaming on top of streaming) run in
`core.compile`, which resolves them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..errors import GraphError
from .cycles import in_cycles
from .declared_steps import ErrorStep, QueueStep

if TYPE_CHECKING:  # the flow calls these checks (`RootFlowStep.check`)
    from .flow import RootFlowStep


def check_graph(graph: RootFlowStep) -> None:
    """Raise `GraphError` for the first rule the graph breaks."""
    if not graph.steps:
        raise GraphError("no models or steps were set, use function.set_topology() and add steps")
    _check_references(graph)
    _check_responders(graph)
    _check_loops(graph)
    if graph.engine == "sync":
        _check_sync_shape(graph)
    _check_queues(graph)


def _check_references(graph: RootFlowStep) -> None:
    for step in graph:
        for upstream in step.after:
            if upstream not in graph:
                raise GraphError(f"step {step.name}: after names no step {upstream!r}")
        if step.on_error and step.on_error not in graph:
            raise GraphError(f"step {step.name}: error handler {step.on_error!r} is no step")
        if isinstance(step, ErrorStep):
            for downstream in step.before:
                if downstream not in graph:
                    raise GraphError(
                        f"error handler {step.name}: before names no step {downstream!r}"
                    )
    if graph.on_error and graph.on_error not in graph:
        raise GraphError(f"graph error handler {graph.on_error!r} is no step")


def _check_responders(graph: RootFlowStep) -> None:
    names = graph.responders()
    if len(names) > 1:
        raise GraphError(
            f"there are more than one responder steps in the graph ({','.join(names)})"
        )


def _check_loops(graph: RootFlowStep) -> None:
    """A loop is refused unless the graph allows cycles (and never on the sync engine)."""
    looping = in_cycles({name: graph.successors(name) for name in graph.steps})
    looped = next((name for name in graph.steps if name in looping), None)
    if looped is None:
        return
    if graph.engine == "sync":
        raise GraphError(
            f"step {looped}: Cyclic graphs are not supported with sync engine, "
            "please use async engine"
        )
    if not graph.allow_cyclic:
        raise GraphError(
            f"Error, loop detected in step {looped}, graph must be acyclic (DAG); "
            "enable allow_cyclic to allow cycles"
        )


def _check_sync_shape(graph: RootFlowStep) -> None:
    starts = graph.start_steps()
    if len(starts) > 1:
        raise GraphError(
            f"sync engine can only have one starting step (without .after), found {starts}"
        )
    for step in graph:
        if isinstance(step, ErrorStep):
            continue
        nexts = [n for n in graph.successors(step.name) if not isinstance(graph[n], ErrorStep)]
        if len(nexts) > 1 or len(step.after) > 1:
            raise GraphError(
                f"synchronous flow engine doesnt support branches use async for step {step.name}"
            )
        if isinstance(step, QueueStep):
            raise GraphError(f"step {step.name}: queues need the async engine")


def _check_queues(graph: RootFlowStep) -> None:
    for step in graph:
        if isinstance(step, QueueStep):
            for nxt in graph.successors(step.name):
                if not graph[nxt].function:
                    raise GraphError(
                        f"step '{nxt}' must specify a function, because it follows a queue step"
                    )
