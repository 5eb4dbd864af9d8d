"""The step workers of a function: each one's name, Faust app id, compiled plan and topics.

What `KafkaGraph` compiles for `streamgraph worker TOPOLOGY [--function NAME]`
(streamgraph/engines/kafka/app.py), without building a Faust app or connecting: read by
`streamgraph acls` (least_privilege.py) and `streamgraph manifests` (streamgraph/kubernetes/).

    [compile_worker(fn, name, settings) for name in worker_names(fn)]
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ...core.compile import Plan, compile_graph
from ...core.context import GraphContext
from ...errors import StreamgraphError
from ...settings import Settings
from .topology import Topology, build_topology

__all__ = ["FunctionWorker", "compile_worker", "worker_names"]


@dataclass(frozen=True)
class FunctionWorker:
    """One function's step workers: their Faust app id (the consumer group they join),
    compiled plan and topics."""

    name: str
    app_id: str
    plan: Plan
    topology: Topology

    def topics_read(self) -> list[str]:
        """Every topic an agent of this worker consumes, in plan order, once each."""
        found = [topic for topics in self.topology.sources.values() for topic in topics]
        return list(dict.fromkeys(found))


def worker_names(function: Any, only: str | None = None) -> list[str]:
    """The function's name and its child functions' (or only `only`, which must be one)."""
    names = [function.name, *function.child_functions]
    if only in (None, ""):
        return names
    if only not in names:
        children = ", ".join(sorted(function.child_functions)) or "none"
        raise StreamgraphError(
            f"{function.name} has no child function {only!r} (children: {children})"
        )
    return [only]


def compile_worker(
    function: Any, name: str, settings: Settings, namespace: dict[str, Any] | None = None
) -> FunctionWorker:
    """What `KafkaGraph` compiles for the worker of `name` (the function or a child)."""
    graph = function.spec.graph
    if graph is None:
        raise StreamgraphError(f"function {function.name} has no graph; call set_topology()")
    function.check_functions()
    context = GraphContext(
        parameters=function.spec.parameters, current_function=name, is_mock=False
    )
    current = None if name == function.name else name
    plan = compile_graph(graph, function.namespace(namespace), context, current)
    topology = build_topology(plan, name, settings)
    return FunctionWorker(name, f"{settings.topic_prefix}.{name}", plan, topology)
