"""A function with every kind of topic a worker touches (tests/kafka/test_least_privilege.py).

`count` loops (a cycle) until `n` reaches `want`; then `chunks` streams the answer in three
chunks (a streaming step, the responder), and a queue carries the event to the child function
`lp-sink`, whose step appends it to the JSON-lines file LP_SINK_PATH.
"""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import streamgraph as sg
from streamgraph.settings import Settings
from streamgraph.steps import Choice

sys.path.insert(0, str(Path(__file__).parent))
from least_privilege_sink import sink


class Count:
    def do(self, body: dict[str, Any]) -> dict[str, Any]:
        return {**body, "n": body.get("n", 0) + 1}


class Enough(Choice):
    def select_outlets(self, body: dict[str, Any]) -> list[str]:
        return ["chunks", "to-sink"] if body["n"] >= body["want"] else ["count"]


class Chunks:
    async def do(self, body: dict[str, Any]) -> AsyncIterator[str]:
        for i in range(3):
            yield f"chunk {i} n={body['n']}\n"


NAMESPACE = {"Count": Count, "Enough": Enough, "Chunks": Chunks, "sink": sink}


def build_function(settings: Settings | None = None) -> sg.ServingFunction:
    settings = settings or Settings()
    fn = sg.new_function("lp", namespace=NAMESPACE)
    fn.add_child_function("lp-sink", str(Path(__file__).with_name("least_privilege_sink.py")))
    graph = fn.set_topology("flow", engine="async", allow_cyclic=True, max_iterations=20)
    graph.to(name="count", class_name="Count").to(
        name="enough", class_name="Enough", cycle_to=["count"]
    )
    graph.add_step(name="chunks", class_name="Chunks", after="enough").respond()
    # a user-named queue topic, outside every function's own prefix
    graph.add_step(">>", "to-sink", path=f"{settings.topic_prefix}-lp-queue", after="enough").to(
        name="sink", handler="sink", function="lp-sink"
    )
    fn.set_streaming(enabled=True)
    return fn


function = build_function()
