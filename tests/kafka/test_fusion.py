"""Step fusion (STREAMGRAPH_FUSE_STEPS): which steps fuse, and that fused runs answer the same.

The whole scenario suite also runs fused on the real broker (`make test`); these tests pin the
fusion rule itself and show that fused steps really skip their topics.
"""

from __future__ import annotations

from typing import Any

import pytest

import streamgraph as sg
from streamgraph.core.compile import Plan, compile_graph
from streamgraph.core.context import GraphContext
from streamgraph.engines.kafka.fusion import fused_runs, fused_successors
from streamgraph.engines.kafka.topology import Topology, build_topology
from streamgraph.settings import Settings
from streamgraph.steps import Choice
from streamgraph.testing import serve


class Pick(Choice):
    def select_outlets(self, body: Any) -> Any:
        return ["b"] if body < 10 else ["c"]


def fail_big(body: int) -> int:
    if body > 100:
        raise ValueError(f"{body} is too big")
    return body


NAMES = {"Pick": Pick, "fail_big": fail_big}


def compiled(fn: sg.ServingFunction) -> tuple[Plan, Topology]:
    plan = compile_graph(fn.spec.graph, NAMES, GraphContext(), None)
    return plan, build_topology(plan, fn.name, Settings())


def chain(name: str = "chain") -> sg.ServingFunction:
    fn = sg.new_function(name, namespace=NAMES)
    fn.set_topology("flow").to(name="a", handler="(event + 1)").to(name="b", handler="fail_big").to(
        name="c", handler="(event * 2)"
    ).respond()
    return fn


def test_a_linear_flow_fuses_into_one_run() -> None:
    plan, top = compiled(chain())
    fused = fused_successors(plan, top)
    assert fused == {"a": "b", "b": "c"}
    assert fused_runs(plan, fused) == [["a", "b", "c"]]


def test_branches_merges_cycles_streams_queues_and_error_handlers_do_not_fuse() -> None:
    fn = sg.new_function("shapes", namespace=NAMES)
    graph = fn.set_topology("flow", allow_cyclic=True)
    pick = graph.to(name="pre", handler="(event)").to("Pick", name="pick")
    pick.to(name="b", handler="(event)").to(sg.steps.Merge, name="m")
    pick.to(name="c", handler="(event)").to(name="d", handler="(event)")
    graph.add_step(name="e", handler="(event)", after="d")
    graph.add_step(name="f", handler="(event)", after="d")
    graph["m"].to(name="after", handler="(event)").respond()
    graph.error_handler(name="catch", handler="(event)")
    plan, top = compiled(fn)
    # pick and d branch, b feeds a Merge, an error handler is fed by every step's failures;
    # what stays is plain one-to-one links
    assert fused_successors(plan, top) == {"pre": "pick", "c": "d"}

    loop = sg.new_function("loop", namespace=NAMES)
    g = loop.set_topology("flow", allow_cyclic=True)
    g.to(name="x", handler="(event + 1)").to(name="y", handler="(event)").to(
        name="z", handler="(event)", cycle_to=["x"]
    )
    plan, top = compiled(loop)
    assert fused_successors(plan, top) == {}


def test_a_streaming_step_does_not_fuse() -> None:
    def gen(body: Any) -> Any:
        yield body

    fn = sg.new_function("stream", namespace={"gen": gen})
    fn.set_topology("flow").to(name="s", handler="gen").to(name="t", handler="(event)").respond()
    plan = compile_graph(fn.spec.graph, {"gen": gen}, GraphContext(), None)
    assert fused_successors(plan, build_topology(plan, fn.name, Settings())) == {}


@pytest.mark.kafka
def test_fused_steps_answer_the_same_and_skip_their_topics(
    kafka_broker: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    answers = {}
    for fuse in ("false", "true"):
        monkeypatch.setenv("STREAMGRAPH_FUSE_STEPS", fuse)
        server = serve(
            chain(f"chain-{fuse}"), engine="kafka", brokers=kafka_broker.bootstrap_servers
        )
        try:
            ok = server.test(body=1)
            bad = server.test(body=500, silent=True)
            server.wait_for_completion()
            produced = server.graph.counters.produced
            topics = server.graph.topology.step_topics
            answers[fuse] = (ok, bad, server.graph.fused)
            hops = {name: produced.get(topics[name], 0) for name in ("a", "b", "c")}
            if fuse == "true":
                assert hops == {"a": 0, "b": 0, "c": 0}  # entry topic -> a; b and c inline
                assert produced.get(server.graph.topology.dlq) == 1
            else:
                assert hops == {"a": 0, "b": 2, "c": 1}
        finally:
            server.close()
    assert answers["false"][0] == answers["true"][0]
    assert answers["false"][1] == answers["true"][1]
    assert answers["false"][0] == 4
    assert answers["true"][1].status_code == 400
    assert answers["true"][1].body == {"error": "ValueError: 501 is too big"}
    assert answers["true"][2] == {"a": "b", "b": "c"} and answers["false"][2] == {}
