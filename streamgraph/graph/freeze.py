"""A frozen copy of a declared graph: what compile works on, so compiling never edits the
declaration and compiling twice gives the same plan.

The copy has its own step objects, lists and dicts; the classes, instances and functions the
steps name are shared (they are the user's objects, used as given, as MLRun does). Assigning an
attribute of a frozen step raises `GraphError`.
"""

from __future__ import annotations

from typing import Any

from .declared_steps import FROZEN, BaseStep, RouterStep
from .flow import RootFlowStep


def frozen_copy(graph: RootFlowStep | RouterStep) -> RootFlowStep:
    """The graph to compile: a router topology becomes a flow of one responding router."""
    copies: dict[int, BaseStep] = {}
    copied = _copy(graph, copies)
    if isinstance(copied, RouterStep):
        copied = _router_flow(copied)
    for step in copied.steps.values():
        step.set_parent(copied)
    for step in [copied, *copies.values()]:  # routes of routers too
        object.__setattr__(step, FROZEN, True)
    return copied


def _router_flow(router: RouterStep) -> RootFlowStep:
    flow = RootFlowStep(engine="async")
    router.name = router.name or "router"
    router.responder = True
    router.after = []
    flow._insert(router)
    return flow


def _copy(value: Any, copies: dict[int, BaseStep]) -> Any:
    if isinstance(value, BaseStep):
        if id(value) in copies:
            return copies[id(value)]
        new = object.__new__(type(value))
        copies[id(value)] = new
        for key, item in vars(value).items():
            if key != FROZEN:
                object.__setattr__(new, key, item if key == "_parent" else _copy(item, copies))
        return new
    if type(value) is list:
        return [_copy(item, copies) for item in value]
    if type(value) is dict:
        return {key: _copy(item, copies) for key, item in value.items()}
    return value  # classes, instances, functions and plain values are shared
