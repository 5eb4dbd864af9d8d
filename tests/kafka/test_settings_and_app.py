"""Building Faust apps from functions: settings, topics, refusals (no broker needed)."""

from __future__ import annotations

import pytest

import streamgraph as sg
from streamgraph.engines.kafka import KafkaGraph, build_app
from streamgraph.settings import Settings


def _function() -> sg.ServingFunction:
    fn = sg.new_function("shop")
    fn.add_child_function("audit")
    graph = fn.set_topology("flow")
    graph.to(name="parse", handler="(event)").to(">>", "q", path="shop-audit").to(
        name="store", handler="(event)", function="audit"
    )
    return fn


def test_settings_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STREAMGRAPH_BROKERS", "10.0.0.1:9092,10.0.0.2:9092")
    monkeypatch.setenv("STREAMGRAPH_TOPIC_PREFIX", "acme")
    monkeypatch.setenv("STREAMGRAPH_PARTITIONS", "8")
    settings = Settings()
    assert settings.brokers == "10.0.0.1:9092,10.0.0.2:9092"
    assert settings.topic("shop", "in") == "acme.shop.in"
    assert settings.partitions == 8
    with pytest.raises(ValueError, match="partitions"):
        Settings(partitions=0)


def test_parent_and_child_workers_get_their_own_topics() -> None:
    settings = Settings(topic_prefix="t")
    parent = KafkaGraph(_function(), settings)
    assert parent.topology.entry == "t.shop.in"
    assert parent.topology.queue_topics == {"q": "shop-audit"}
    assert set(parent.topology.step_topics) == {"parse", "q"}
    child = KafkaGraph(_function(), settings, current_function="audit")
    assert child.topology.entry == "t.audit.in"
    assert child.topology.dlq == "t.audit.dlq"
    assert child.topology.sources["store"] == ["t.audit.store", "t.audit.in", "shop-audit"]


def test_a_topology_module_exposes_a_faust_app() -> None:
    app = build_app(_function(), Settings(topic_prefix="t"))
    assert sorted(app.agents) == ["t.shop.parse.agent", "t.shop.q.agent"]


def test_exactly_once_is_accepted_for_plain_steps() -> None:
    graph = KafkaGraph(_function(), Settings(processing_guarantee="exactly_once"))
    assert graph.eos is not None
    assert graph.app.eos is graph.eos  # type: ignore[attr-defined]  # the consumer reads it


def test_undeclared_child_function_is_refused_for_a_worker() -> None:
    fn = sg.new_function("lonely")
    fn.set_topology("flow").to(name="a", handler="(event)").to(">>", "q", path="t").to(
        name="b", handler="(event)", function="ghost"
    )
    with pytest.raises(sg.GraphError, match="function ghost is used in steps"):
        KafkaGraph(fn, Settings())
