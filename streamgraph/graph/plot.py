"""Draw a graph as Graphviz DOT; render it with the `dot` binary when it is installed."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import TYPE_CHECKING

from .steps import ErrorStep, QueueStep, RouterStep

if TYPE_CHECKING:
    from .flow import RootFlowStep

_SHAPES = {QueueStep: "cds", RouterStep: "doubleoctagon", ErrorStep: "octagon"}


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def graph_dot(graph: RootFlowStep, rankdir: str = "TB") -> str:
    """The DOT source: a source node, every step, edges (cycles dashed), error edges red."""
    lines = [
        "digraph streamgraph {",
        f"  rankdir={rankdir};",
        '  node [fontname="Helvetica", shape=ellipse];',
        '  "_start" [label="", shape=circle, style=filled, fillcolor=black, width=0.2];',
    ]
    for step in graph:
        shape = next((s for cls, s in _SHAPES.items() if isinstance(step, cls)), "ellipse")
        label = step.name + (f"\\n({step.function})" if step.function else "")
        extra = ", style=bold, color=blue" if step.responder else ""
        lines.append(f"  {_quote(step.name)} [label={_quote(label)}, shape={shape}{extra}];")
    for name in graph.start_steps():
        lines.append(f'  "_start" -> {_quote(name)};')
    for step in graph:
        for upstream in step.after:
            style = " [style=dashed]" if upstream in step.cycle_from else ""
            lines.append(f"  {_quote(upstream)} -> {_quote(step.name)}{style};")
        if isinstance(step, ErrorStep):
            for downstream in step.before:
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
    graph: RootFlowStep, filename: str | None = None, format: str | None = None, rankdir: str = "TB"
) -> str:
    """Write `filename` (DOT text for `.dot`/`.gv`, else rendered by graphviz); return the DOT."""
    dot = graph_dot(graph, rankdir=rankdir)
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
