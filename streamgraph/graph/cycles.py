"""Which steps lie on a cycle: the one cycle finder for validation, compile and the engines.

Edges are given as a mapping `step -> the steps it leads to`, so each caller chooses what an edge
is: declared successors (validation), or compiled outlets and error handlers (step fusion).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping


def in_cycles(edges: Mapping[str, Iterable[str]]) -> set[str]:
    """The steps that can reach themselves along `edges` (a self-loop counts).

    Tarjan's strongly connected components, iterative so a long chain cannot overflow the
    stack; a target that is not a key of `edges` is a dead end."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    looping: set[str] = set()
    successors = {name: [n for n in targets if n in edges] for name, targets in edges.items()}
    for root in successors:
        if root in index:
            continue
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        work = [(root, iter(successors[root]))]
        while work:
            name, pending = work[-1]
            nxt = next(pending, None)
            if nxt is not None:
                if nxt not in index:
                    index[nxt] = low[nxt] = len(index)
                    stack.append(nxt)
                    on_stack.add(nxt)
                    work.append((nxt, iter(successors[nxt])))
                elif nxt in on_stack:
                    low[name] = min(low[name], index[nxt])
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[name])
            if low[name] == index[name]:  # `name` roots a component: pop it
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == name:
                        break
                if len(component) > 1 or name in successors[name]:
                    looping.update(component)
    return looping
