"""Which topic each step reads and writes, for one function's compiled plan.

Every step reads `<prefix>.<function>.<step>`; starting steps also read the entry topic
`<prefix>.<function>.in`; steps that follow a queue read the queue's own topic (`path=`).
Answers go to `<prefix>.<function>.out`, dead letters to `<prefix>.<function>.dlq`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ...core.compile import Plan
from ...errors import GraphError
from ...graph.declared_steps import QueueStep
from ...graph.names import topic_safe
from ...settings import Settings


@dataclass
class Topology:
    """Topic names for a plan: what each step consumes and where its outlets lead."""

    function: str
    entry: str
    output: str
    dlq: str
    step_topics: dict[str, str] = field(default_factory=dict)
    sources: dict[str, list[str]] = field(default_factory=dict)
    # a queue step writes to its own topic (path=) instead of its successors' topics
    queue_topics: dict[str, str] = field(default_factory=dict)

    def all_topics(self) -> list[str]:
        names = [self.entry, self.output, self.dlq, *self.step_topics.values()]
        names.extend(self.queue_topics.values())
        return list(dict.fromkeys(names))


def _queue_topic(queue: QueueStep, function: str, settings: Settings) -> str:
    """The topic a queue step writes to: its `path` (`kafka://host/topic` or a bare name)."""
    path = queue.path or settings.topic(function, queue.name)
    if "://" in path:
        path = path.split("://", 1)[1].split("/", 1)[-1]
    if not path or topic_safe(path) != path:
        raise GraphError(f"step {queue.name}: queue path {queue.path!r} is not a topic name")
    return path


def function_of(step_function: str | None, default: str) -> str:
    return step_function or default


def build_topology(
    plan: Plan, function: str, settings: Settings, queue_prefix: str = ""
) -> Topology:
    """Name every topic of `plan`, refusing names Kafka would not accept.

    `queue_prefix` is put before user-named queue topics (tests use it to keep runs apart).
    """
    top = Topology(
        function=function,
        entry=settings.topic(function, "in"),
        output=settings.topic(function, "out"),
        dlq=settings.topic(function, "dlq"),
    )
    graph = plan.graph
    for name, step in plan.steps.items():
        owner = topic_safe(function_of(step.function, function))
        top.step_topics[name] = settings.topic(owner, name)
        top.sources[name] = [top.step_topics[name]]
    for name in plan.starts:
        top.sources[name].append(top.entry)
    for name in plan.steps:
        declared = graph[name]
        if isinstance(declared, QueueStep):
            top.queue_topics[name] = queue_prefix + _queue_topic(declared, function, settings)
    for name in plan.steps:
        for upstream in graph[name].upstream():
            queue = graph[upstream]
            # a child function's first steps read the queue its parent writes to
            if isinstance(queue, QueueStep):
                topic = queue_prefix + _queue_topic(queue, function, settings)
                if topic not in top.sources[name]:
                    top.sources[name].append(topic)
    for topic in top.all_topics():
        if len(topic) > 249:
            raise GraphError(f"topic name {topic[:60]}... is longer than Kafka's 249 characters")
    return top
