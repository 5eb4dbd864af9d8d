"""Graph preparers: what other packages add to compiling a graph, without core importing them.

`serving` registers one that loads a graph's shared models once and gives model runners their
endpoint registry; core only calls what is registered, in order, before it builds the steps.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from ..graph.declared_steps import BaseStep
    from ..graph.flow import RootFlowStep
    from .context import GraphContext


class GraphPreparer(Protocol):
    def __call__(
        self,
        flow: RootFlowStep,
        steps: list[BaseStep],
        namespace: dict[str, Any],
        context: GraphContext,
    ) -> Any:
        """Prepare the `steps` compile is about to build (the context is theirs to fill);
        return an object to close after the steps are closed, or None."""


_PREPARERS: list[GraphPreparer] = []


def register_graph_preparer(preparer: GraphPreparer) -> GraphPreparer:
    """Run `preparer` on every graph compiled from now on (once per preparer)."""
    if preparer not in _PREPARERS:
        _PREPARERS.append(preparer)
    return preparer


def graph_preparers() -> tuple[GraphPreparer, ...]:
    return tuple(_PREPARERS)
