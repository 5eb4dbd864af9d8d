"""Step fusion (opt-in, `STREAMGRAPH_FUSE_STEPS=true`): a linear run of steps in one agent.

Like operator chaining in Flink: where a step's only outlet is a step that nothing else feeds,
the successor runs in the same agent right after it, on the same event, with no record and no
hop between them, so a 3-step flow takes one hop instead of three. Only plain steps fuse: no
branch, cycle, Merge, Collector, Batch, queue, streaming step or error handler inside a run.
Answers, errors, error handlers and dead letters are the same as unfused (`core.outcome`
decides them either way). Every step keeps its agent and topic, so records already on a fused
step's topic (written before fusion was switched on, or sent back by `dlq replay`) still run.
"""

from __future__ import annotations

from ...core.compile import Plan
from ...core.step_runtime import StepRuntime
from ...graph.cycles import in_cycles
from .topology import Topology


def fused_successors(plan: Plan, topology: Topology) -> dict[str, str]:
    """step name -> the successor that runs inline after it (chains: a -> b, b -> c)."""
    feeders: dict[str, int] = {}
    for step in plan.steps.values():
        for outlet in step.outlets:
            feeders[outlet] = feeders.get(outlet, 0) + 1
    looping = _in_cycles(plan)
    fused: dict[str, str] = {}
    for name, step in plan.steps.items():
        if len(step.outlets) != 1:
            continue
        successor = plan.steps[step.outlets[0]]
        if (
            feeders.get(successor.name) == 1
            and successor.name not in plan.starts  # it also reads the entry topic
            and not successor.is_error_step
            and _plain(step, topology)
            and _plain(successor, topology)
            and not {name, successor.name} & looping
        ):
            fused[name] = successor.name
    return fused


def fused_runs(plan: Plan, fused: dict[str, str]) -> list[list[str]]:
    """The fused chains, each from its head (for `streamgraph describe` and the logs)."""
    tails = set(fused.values())
    runs = []
    for head in plan.steps:
        if head in fused and head not in tails:
            run = [head]
            while run[-1] in fused:
                run.append(fused[run[-1]])
            runs.append(run)
    return runs


def _plain(step: StepRuntime, topology: Topology) -> bool:
    return not step.stateful and not step.streaming and step.name not in topology.queue_topics


def _in_cycles(plan: Plan) -> set[str]:
    """Steps that can reach themselves through outlets or error handlers."""
    return in_cycles(
        {
            name: [*step.outlets, *([step.error_target] if step.error_target else [])]
            for name, step in plan.steps.items()
        }
    )
