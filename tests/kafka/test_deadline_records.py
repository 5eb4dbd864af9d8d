"""A record whose deadline passed before a worker took it: acked, counted, never run."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
from prometheus_client import generate_latest
from workers import body, collect, produce

import streamgraph as sg
from streamgraph.core.event import Event
from streamgraph.engines.kafka.dlq import replay_dead_letters
from streamgraph.engines.kafka.metrics import worker_registry
from streamgraph.testing import serve
from streamgraph.wire.codec import encode

pytestmark = pytest.mark.kafka

ran: list[Any] = []


def record(body: Any) -> Any:
    ran.append(body)
    return body


def test_expired_records_are_dropped_and_the_others_all_run(kafka_broker: Any) -> None:
    ran.clear()
    fn = sg.new_function("expiry", namespace={"record": record})
    fn.set_topology("flow").to(name="a", handler="record").to(name="b", handler="(event)")
    server = serve(fn, engine="kafka", brokers=kafka_broker.bootstrap_servers)
    settings, topology = server.settings, server.graph.topology
    records = []
    for i in range(7):  # interleaved: no deadline, a future one, and two already past
        event = Event({"n": i}, f"ev-{i}")
        if i % 3 == 1:
            event.deadline = time.time() + 60
        elif i % 3 == 2:
            event.deadline = time.time() - 5
        records.append(encode(event))
    asyncio.run(produce(settings.brokers, topology.entry, records))

    out = asyncio.run(collect(settings.brokers, topology.output, 5, 30))
    assert sorted(body(m)["n"] for m in out) == [0, 1, 3, 4, 6]
    graph = server.graph
    registry = worker_registry(graph)
    server.wait_for_completion()  # every record taken and acked (nothing left in flight)
    assert sorted(item["n"] for item in ran) == [0, 1, 3, 4, 6]  # no step ran for 2 and 5
    assert graph.executor.expired.counts == {"a": 2}
    assert graph.counters.consumed[topology.entry] == 7
    assert graph.counters.in_flight == 0
    assert graph.counters.produced.get(topology.dlq, 0) == 0  # dropped, not dead-lettered
    metrics = generate_latest(registry).decode()
    assert 'streamgraph_expired_records_total{function="expiry",step="a"} 2.0' in metrics


def test_a_replayed_dead_letter_runs_after_its_deadline(kafka_broker: Any) -> None:
    ran.clear()
    fn = sg.new_function("replayed", namespace={"record": record})
    fn.set_topology("flow").to(name="a", handler="(event)").to(name="b", handler="record")
    server = serve(fn, engine="kafka", brokers=kafka_broker.bootstrap_servers)
    settings, topology = server.settings, server.graph.topology
    event = Event({"n": 1}, "ev-dead")
    event.deadline = time.time() - 3600  # the caller gave up an hour ago
    event.error, event.origin_state = "ValueError: the model was down", "b"
    key, value, headers = encode(event)
    headers.append(("sg-origin-topic", topology.step_topics["b"].encode()))
    asyncio.run(produce(settings.brokers, topology.dlq, [(key, value, headers)]))

    report = asyncio.run(replay_dead_letters("replayed", settings, idle_seconds=1.0))
    assert report.replayed == {topology.step_topics["b"]: 1}
    out = asyncio.run(collect(settings.brokers, topology.output, 1, 30))
    assert [body(m) for m in out] == [{"n": 1}]
    server.wait_for_completion()
    assert ran == [{"n": 1}] and server.graph.executor.expired.counts == {}
