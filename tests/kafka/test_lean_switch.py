"""`lean_transport`: the lean classes by default, Faust's stock classes with false."""

from __future__ import annotations

import os
from typing import Any

import faust
import pytest
from faust.sensors import Monitor
from faust.tables import TableManager
from faust.transport.drivers import aiokafka as faust_aiokafka

import streamgraph as sg
from streamgraph.engines.kafka import KafkaGraph
from streamgraph.engines.kafka.batches import LeanStream
from streamgraph.engines.kafka.transport import (
    LeanApp,
    LeanConsumer,
    LeanSchema,
    LeanTableManager,
)
from streamgraph.settings import Settings
from streamgraph.testing import serve


def _function() -> sg.ServingFunction:
    fn = sg.new_function("lean")
    graph = fn.set_topology("flow")
    graph.to(name="inc", handler="(event + 1)").to(name="double", handler="(event * 2)").respond()
    return fn


def _classes(app: Any) -> tuple[type, ...]:
    schemas = {type(agent.channel.schema) for agent in app.agents.values()}
    assert len(schemas) == 1
    return (
        type(app),
        app.conf.Stream,
        type(app.transport),
        type(app.consumer),
        type(app.monitor),
        schemas.pop(),
        type(app.tables),
    )


def test_lean_transport_is_the_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("STREAMGRAPH_LEAN_TRANSPORT", raising=False)  # make test sets it once
    graph = KafkaGraph(_function(), Settings(topic_prefix="t"))
    app_class, stream, transport, consumer, monitor, schema, tables = _classes(graph.app)
    assert (app_class, stream, consumer, monitor, schema, tables) == (
        LeanApp,
        LeanStream,
        LeanConsumer,
        Monitor,  # Faust's own: LeanApp takes it out of the sensors when it starts
        LeanSchema,
        LeanTableManager,
    )
    assert transport is not faust_aiokafka.Transport


def test_lean_transport_false_builds_faust_stock_classes() -> None:
    graph = KafkaGraph(_function(), Settings(topic_prefix="t", lean_transport=False))
    assert _classes(graph.app) == (
        faust.App,
        faust.Stream,
        faust_aiokafka.Transport,
        faust_aiokafka.Consumer,
        Monitor,
        faust.Schema,
        TableManager,
    )
    assert type(graph.app.producer) is faust_aiokafka.Producer


def test_the_setting_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STREAMGRAPH_LEAN_TRANSPORT", "false")
    assert Settings(topic_prefix="t").lean_transport is False  # as the test harness builds it


@pytest.mark.kafka
@pytest.mark.parametrize("lean", ["true", "false"])
def test_a_served_function_follows_the_environment(
    lean: str, kafka_broker: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STREAMGRAPH_LEAN_TRANSPORT", lean)
    server = serve(_function(), engine="kafka", brokers=kafka_broker.bootstrap_servers)
    try:
        assert (type(server.app) is LeanApp) == (lean == "true")
        # lean: no per-record calls into the monitor (it is no sensor); stock: Faust's monitor
        assert (server.app.monitor in set(server.app.sensors)) == (lean == "false")
        assert [server.test(body=n) for n in range(5)] == [2, 4, 6, 8, 10]
        server.wait_for_completion()
    finally:
        server.close()


@pytest.mark.kafka
def test_this_process_runs_the_transport_its_environment_asks_for(kafka_broker: Any) -> None:
    """`make test` runs the Kafka scenarios again with STREAMGRAPH_LEAN_TRANSPORT=false."""
    expected = os.environ.get("STREAMGRAPH_LEAN_TRANSPORT", "true").lower() != "false"
    server = serve(_function(), engine="kafka", brokers=kafka_broker.bootstrap_servers)
    try:
        assert isinstance(server.app, LeanApp) == expected
        assert server.test(body=1) == 4
    finally:
        server.close()
