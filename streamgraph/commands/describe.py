"""`streamgraph describe TOPOLOGY` (steps, topics, outlets as text) and `streamgraph plot`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from ..engines.kafka.fusion import fused_runs
from ..graph.serialize import callable_ref, class_ref
from ..graph.steps import QueueStep, TaskStep
from .common import load, settings_for, topology_argument
from .topics import kafka_graphs


def what_runs(step: Any) -> str:
    """`class X`, `handler f`, `queue -> topic`: what a declared step is."""
    if isinstance(step, QueueStep):
        return "queue"
    if isinstance(step, TaskStep):
        if step.class_name is not None:
            return f"class {class_ref(step.class_name)[0]}"
        if step.handler is not None:
            return f"handler {callable_ref(step.handler)}"
    return step.kind


def describe_graph(graph: Any) -> list[str]:
    """Lines describing one compiled function (a `KafkaGraph`)."""
    plan, top = graph.plan, graph.topology
    shape = f"{plan.engine} engine" + (", cyclic" if plan.cyclic else "")
    lines = [
        f"function {top.function} ({shape}, {len(plan.steps)} steps)",
        f"  entry topic   {top.entry}",
        f"  output topic  {top.output}",
        f"  dead letters  {top.dlq}",
        f"  starts at     {', '.join(plan.starts) or '-'}",
        f"  answers from  {plan.responder or '- (no responder: results go to the output topic)'}",
    ]
    for name, step in plan.steps.items():
        declared = plan.graph[name]
        marks = (("responds", step.responder), ("error handler", step.is_error_step))
        marked = ", ".join(mark for mark, on in marks if on)
        lines.append(f"  step {name}: {what_runs(declared)}" + (f" [{marked}]" if marked else ""))
        lines.append(f"    reads    {', '.join(top.sources[name])}")
        if name in top.queue_topics:
            lines.append(f"    writes   {top.queue_topics[name]}")
        lines.append(f"    outlets  {', '.join(step.outlets) or '-'}")
        if step.error_target:
            lines.append(f"    errors   -> {step.error_target}")
    for run in fused_runs(plan, graph.fused):
        lines.append(f"  fused         {' -> '.join(run)} (one agent: {run[0]})")
    return lines


@click.command()
@topology_argument
def describe(topology: str) -> None:
    """Print TOPOLOGY's steps, the topics each reads and writes, and their outlets."""
    function = load(topology)
    for i, graph in enumerate(kafka_graphs(function, settings_for(None))):
        if i:
            click.echo("")
        click.echo("\n".join(describe_graph(graph)))


@click.command()
@topology_argument
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    default=Path("graph.svg"),
    show_default=True,
    help="Picture to write; the suffix picks the format (.svg, .png, .pdf, .dot).",
)
@click.option("--rankdir", default="LR", show_default=True, help="Graphviz layout direction.")
def plot(topology: str, output: Path, rankdir: str) -> None:
    """Draw TOPOLOGY's graph with Graphviz."""
    from ..graph.freeze import frozen_copy
    from ..graph.plot import plot_graph

    function = load(topology)
    if function.graph is None:
        raise click.ClickException(f"function {function.name} has no graph")
    try:
        plot_graph(frozen_copy(function.graph), filename=str(output), rankdir=rankdir)
    except RuntimeError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"wrote {output}")


__all__ = ["describe", "plot"]
