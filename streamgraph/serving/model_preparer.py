"""What compiling a graph needs from serving: shared models loaded once, an endpoint registry
for model runners. Registered with `core.preparer_registry` when `streamgraph.serving` is
imported."""

from __future__ import annotations

from typing import Any

from ..core.context import GraphContext
from ..graph.declared_steps import BaseStep, TaskStep
from ..graph.flow import RootFlowStep
from .endpoints import EndpointRegistry


def prepare_models(
    flow: RootFlowStep, steps: list[BaseStep], namespace: dict[str, Any], context: GraphContext
) -> Any:
    """Check every proxy names a declared shared model, then load each shared model ONCE;
    returns the registry (closed after the steps that use it), or None."""
    runners = [
        s.class_name
        for s in steps
        if isinstance(s, TaskStep) and callable(getattr(s.class_name, "check_proxies", None))
    ]
    if runners:
        context.endpoints = EndpointRegistry()  # one per graph: server.context.endpoints
    if not flow.shared_models and not any(r.proxies() for r in runners):
        return None
    from .shared import SharedModelRegistry  # only graphs with shared models pay for it

    registry = SharedModelRegistry.from_specs(flow.shared_models)
    registry.remote = context.remote_models
    for runner in runners:
        runner.check_proxies(registry)
    registry.load_all(namespace)
    context.shared_models = registry
    return registry
