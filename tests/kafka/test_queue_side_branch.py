"""A queue on a side branch carries no caller's reply to the function behind it.

That function's own plan has no responder, so it acknowledges every caller it finds on an event
at once (`{"id"}`): carried over the queue, the caller's reply raced the parent's responder and
sometimes won (seen in tests/kafka/test_least_privilege.py under exactly_once). No broker here:
the executor's records are collected as it sends them.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from streamgraph.core.compile import compile_graph
from streamgraph.core.context import GraphContext
from streamgraph.core.event import Event
from streamgraph.engines.kafka.executor import Emission, StepExecutor
from streamgraph.engines.kafka.topology import build_topology
from streamgraph.settings import Settings
from streamgraph.wire.codec import KafkaReply

sys.path.insert(0, str(Path(__file__).parent))
from least_privilege_topology import build_function


async def test_the_queue_copy_of_a_side_branch_carries_no_reply() -> None:
    fn = build_function()
    plan = compile_graph(fn.spec.graph, fn.namespace(None), GraphContext(), None)
    topology = build_topology(plan, "lp", Settings(topic_prefix="t"))
    sent: list[Emission] = []

    async def send(emission: Emission) -> Any:
        sent.append(emission)
        return None

    executor = StepExecutor(plan, topology, send, lambda name: {})
    event = Event(body={"want": 1, "n": 1}, id="req-1")
    event.reply = KafkaReply("t.lp.in.replies.x", "req-1")
    await executor.run("enough", event)  # -> chunks (the responder) and to-sink
    branches = {e.topic: e.event for e in sent}
    assert isinstance(branches[topology.step_topics["chunks"]].reply, KafkaReply)
    await executor.run("to-sink", branches[topology.step_topics["to-sink"]])
    queued = [e for e in sent if e.topic == topology.queue_topics["to-sink"]]
    assert len(queued) == 1
    assert queued[0].event.reply is None  # the child function will not answer the caller
