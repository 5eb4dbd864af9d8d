"""Draw a graph as Graphviz DOT; render it with the `dot` binary when it is installed.

Steps are told apart by their `kind` (what `to_dict()` writes), so the step classes, whose
`plot()` calls this module, are not imported here.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import TYPE_CHECKING, cast

if TYPE_CHECKING:
    from .declared_steps import ErrorStep, RouterStep, TaskStep
    from .flow import RootFlowStep

_SHAPES = {"queue": "cds", "router": "doubleoctagon", "error_step": "octagon"}
_TASK_KINDS = ("task", "error_step")  # TaskStep and its subclass ErrorStep (not a router)


def _quote(text: str) -> str:
    # a newline in a label is DOT's line break
    escaped = text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return '"' + escaped + '"'


_HEADER = [
    '  node [fontname="Helvetica", shape=ellipse];',
    '  "_start" [label="", shape=circle, style=filled, fillcolor=black, width=0.2];',
]


def _routes(router: RouterStep) -> list[str]:
    """A router's model routes: a box each, joined to the router by a dotted edge."""
    lines = []
    for key in router.routes:
        node = _quote(f"{router.name}/{key}")
        lines.append(f"  {node} [label={_quote(key)}, shape=box];")
        lines.append(f"  {_quote(router.name)} -> {node} [style=dotted, arrowhead=none];")
    return lines


def _runner_models(step: TaskStep) -> list[str]:
    """A model runner's endpoints (a box each); a proxy points to its shared model."""
    runner = step.class_name
    if not callable(getattr(runner, "endpoint_names", None)):
        return []
    proxies = runner.proxies() if callable(getattr(runner, "proxies", None)) else {}
    lines = []
    for endpoint in runner.endpoint_names():
        node = _quote(f"{step.name}/{endpoint}")
        lines.append(f"  {node} [label={_quote(endpoint)}, shape=box];")
        lines.append(f"  {_quote(step.name)} -> {node} [style=dotted, arrowhead=none];")
        if proxies.get(endpoint):
            shared = _quote(f"shared/{proxies[endpoint]}")
            lines.append(f"  {node} -> {shared} [style=dotted];")
    return lines


def router_dot(router: RouterStep, rankdir: str = "TB") -> str:
    """The DOT source of a router topology: the router and its model routes."""
    lines = ["digraph streamgraph {", f"  rankdir={rankdir};", *_HEADER]
    lines.append(f"  {_quote(router.name)} [shape=doubleoctagon, style=bold, color=blue];")
    lines.append(f'  "_start" -> {_quote(router.name)};')
    lines.extend(_routes(router))
    lines.append("}")
    return "\n".join(lines) + "\n"


def graph_dot(graph: RootFlowStep, rankdir: str = "TB") -> str:
    """The DOT source: a source node, every step, edges (cycles dashed), error edges red."""
    lines = ["digraph streamgraph {", f"  rankdir={rankdir};", *_HEADER]
    for name in getattr(graph, "shared_models", {}):
        label = _quote(f"{name}\n(shared model)")
        lines.append(f"  {_quote('shared/' + name)} [label={label}, shape=cylinder];")
    for step in graph:
        shape = _SHAPES.get(step.kind, "ellipse")
        label = step.name + (f"\n({step.function})" if step.function else "")
        extra = ", style=bold, color=blue" if step.responder else ""
        lines.append(f"  {_quote(step.name)} [label={_quote(label)}, shape={shape}{extra}];")
        if step.kind == "router":
            lines.extend(_routes(cast("RouterStep", step)))
        elif step.kind in _TASK_KINDS:
            lines.extend(_runner_models(cast("TaskStep", step)))
    for name in graph.start_steps():
        lines.append(f'  "_start" -> {_quote(name)};')
    for step in graph:
        for upstream in step.after:
            style = " [style=dashed]" if upstream in step.cycle_from else ""
            lines.append(f"  {_quote(upstream)} -> {_quote(step.name)}{style};")
        if step.kind == "error_step":
            for downstream in cast("ErrorStep", step).before:
                lines.append(f"  {_quote(step.name)} -> {_quote(downstream)};")
        if step.on_error:
            lines.append(
                f'  {_quote(step.name)} -> {_quote(step.on_error)} [color=red, label="error"];'
            )
    if graph.on_error:
        lines.append('  "_any_step" [label="any step", shape=plaintext];')
        lines.append(f'  "_any_step" -> {_quote(graph.on_error)} [color=red, label="error"];')
    lines.append("}")
    return "\n".join(lines) + "\n"


def plot_graph(
    graph: RootFlowStep | RouterStep,
    filename: str | None = None,
    format: str | None = None,
    rankdir: str = "TB",
) -> str:
    """Write `filename` (DOT text for `.dot`/`.gv`, else rendered by graphviz); return the DOT."""
    if graph.kind == "router":
        dot = router_dot(cast("RouterStep", graph), rankdir=rankdir)
    else:
        dot = graph_dot(cast("RootFlowStep", graph), rankdir=rankdir)
    if not filename:
        return dot
    path = Path(filename)
    fmt = format or (path.suffix.lstrip(".") or "dot")
    if fmt in ("dot", "gv"):
        path.write_text(dot)
        return dot
    if shutil.which("dot") is None:
        raise RuntimeError(
            f"rendering {fmt} needs Graphviz's 'dot' binary (apt-get install graphviz); "
            "write a .dot file instead"
        )
    import graphviz

    source = graphviz.Source(dot)
    data = source.pipe(format=fmt)
    path.write_bytes(data)
    return dot
