"""The engine fixture's Kafka variants really run under their settings (tests/conftest.py).

`make test` runs every scenario and acceptance test on each of KAFKA_VARIANTS: these tests
fail if a variant's setting stopped reaching the graph it serves, or if the fused variant ran
(and skipped) a graph it should have fused.
"""

from __future__ import annotations

from typing import Any

import pytest

import streamgraph as sg
from streamgraph import testing
from streamgraph.engines.kafka.harness import NothingToFuse
from streamgraph.engines.kafka.transport import LeanApp
from streamgraph.settings import Settings
from streamgraph.testing import serve


def _chain() -> sg.ServingFunction:
    fn = sg.new_function("variants")
    graph = fn.set_topology("flow")
    graph.to(name="inc", handler="(event + 1)").to(name="double", handler="(event * 2)").respond()
    return fn


def test_each_kafka_variant_serves_under_its_setting(
    engine: str, request: pytest.FixtureRequest
) -> None:
    server = serve(_chain(), engine=engine)
    assert [server.test(body=n) for n in range(3)] == [2, 4, 6]
    if engine == "local":
        return
    variant = request.node.callspec.params["engine"]
    graph = server.graph
    # the plain variant runs as the environment says (a developer may set any of these)
    given = Settings()
    lean = given.lean_transport if variant == "kafka" else variant != "kafka-stock"
    fused = given.fuse_steps if variant == "kafka" else variant == "kafka-fused"
    eos = (
        given.processing_guarantee == "exactly_once"
        if variant == "kafka"
        else variant == "kafka-eos"
    )
    assert isinstance(server.app, LeanApp) == lean
    assert bool(graph.fused) == fused  # inc -> double: one fused pair
    assert (graph.eos is not None) == eos


@pytest.mark.kafka
def test_a_graph_with_nothing_to_fuse_is_refused_when_fusion_is_required(
    kafka_broker: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    fn = sg.new_function("alone")
    fn.set_topology("flow").to(name="inc", handler="(event + 1)").respond()
    monkeypatch.setenv("STREAMGRAPH_FUSE_STEPS", "true")
    testing.require_fusion(True)
    try:
        with pytest.raises(NothingToFuse, match="no step of this graph is fused"):
            serve(fn, engine="kafka", brokers=kafka_broker.bootstrap_servers)
        testing.require_fusion(False)  # the same graph runs when fusion is not required
        assert serve(fn, engine="kafka", brokers=kafka_broker.bootstrap_servers).test(body=1) == 2
    finally:
        testing.require_fusion(False)
        testing.close_all()
