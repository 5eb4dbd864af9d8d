"""`streamgraph describe TOPOLOGY` (steps, the topics each reads and writes, outlets, where
errors go, as text) and `streamgraph plot`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from ..engines.kafka.fusion import fused_runs
from ..engines.kafka.remote_model import dedicated_models, request_topic
from ..graph.declared_steps import QueueStep, TaskStep
from ..graph.refs import callable_ref, class_ref
from .common import load, security_note, settings_for, topology_argument
from .topics import kafka_graphs


def _class_name(class_name: Any) -> str:
    """A step's class as a name; an instance by its class (its args are not needed here)."""
    if isinstance(class_name, str | type):
        return class_ref(class_name)[0]
    return class_ref(type(class_name))[0]


def what_runs(step: Any) -> str:
    """`class X`, `handler f`, `queue -> topic`: what a declared step is."""
    if isinstance(step, QueueStep):
        return "queue"
    if isinstance(step, TaskStep):
        if step.class_name is not None:
            return f"class {_class_name(step.class_name)}"
        if step.handler is not None:
            return f"handler {callable_ref(step.handler)}"
    return step.kind


REPLY = "the caller's reply topic"


def writes_of(graph: Any, name: str) -> list[str]:
    """Where step `name`'s results go on Kafka, as the worker sends them (executor.py): the
    topics of its outlets (a fused outlet runs in the same agent, no topic) or a queue's topic,
    then the caller's reply topic and the output topic for the answer."""
    plan, top = graph.plan, graph.topology
    step = plan.steps[name]
    writes = []
    if name in plan.starts and plan.responder is None and plan.engine != "sync":
        writes.append(f'{REPLY} ({{"id"}} as the event arrives)')
    if name in top.queue_topics:  # a queue writes its own topic, not its outlets'
        writes.append(top.queue_topics[name])
    else:
        for outlet in step.outlets:
            fused = graph.fused.get(name) == outlet
            writes.append(
                f"(fused: {outlet} runs in this agent)" if fused else top.step_topics[outlet]
            )
    terminal = not step.outlets
    answers = step.responder or (terminal and step.answers_when_last)
    if answers:
        writes.append(REPLY)
    if answers or (terminal and step.outputs_when_last):
        writes.append(top.output)
    return writes


def errors_of(graph: Any, name: str) -> str:
    """Where a failure of step `name` goes: its error handler's topic, else the dead letters."""
    step, top = graph.plan.steps[name], graph.topology
    if step.error_target:
        return f"-> {step.error_target} ({top.step_topics[step.error_target]})"
    return f"-> dead letters ({top.dlq})"


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
    if graph.settings.dedicated_model_workers and top.function == graph.function.name:
        for model in dedicated_models(graph.function):  # proxies of it send their calls here
            topic = request_topic(graph.settings, top.function, model)
            lines.append(f"  model worker  {model}: calls on {topic} (streamgraph worker --model)")
    for name, step in plan.steps.items():
        declared = plan.graph[name]
        marks = (("responds", step.responder), ("error handler", step.is_error_step))
        marked = ", ".join(mark for mark, on in marks if on)
        lines.append(f"  step {name}: {what_runs(declared)}" + (f" [{marked}]" if marked else ""))
        lines.append(f"    reads    {', '.join(top.sources[name])}")
        lines.append(f"    writes   {', '.join(writes_of(graph, name)) or '-'}")
        lines.append(f"    outlets  {', '.join(step.outlets) or '-'}")
        lines.append(f"    errors   {errors_of(graph, name)}")
    for run in fused_runs(plan, graph.fused):
        lines.append(f"  fused         {' -> '.join(run)} (one agent: {run[0]})")
    return lines


@click.command()
@topology_argument
def describe(topology: str) -> None:
    """Print TOPOLOGY's steps, the topics each reads and writes, and their outlets."""
    function = load(topology)
    settings = settings_for(None)
    secured = security_note(settings)  # a secured cluster is named (never a secret)
    for i, graph in enumerate(kafka_graphs(function, settings)):
        if i:
            click.echo("")
        click.echo("\n".join(describe_graph(graph)))
    if secured:
        click.echo(f"\nKafka at {settings.brokers}{secured}")


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


__all__ = ["describe", "describe_graph", "errors_of", "plot", "writes_of"]
