"""An app's start: the consumer subscribes once the graph's topics exist (transport.py)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import Any

import pytest

import streamgraph as sg
from streamgraph.engines.kafka import KafkaGraph
from streamgraph.engines.kafka.transport import LeanConsumer
from streamgraph.testing import serve


def _three_steps() -> sg.ServingFunction:
    fn = sg.new_function("starting")
    graph = fn.set_topology("flow")
    graph.to(name="a", handler="(event + 1)").to(name="b", handler="(event * 2)").to(
        name="c", handler="(event - 3)"
    ).respond()
    return fn


def test_the_consumer_subscribes_only_once_the_topics_exist(
    kafka_broker: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # subscribed to a topic not there yet, a worker got no partition of it (and answered
    # nothing) until a metadata refresh; Faust's table manager only sleeps 1 s before the
    # subscription, so a declaration slower than that shows which came first
    happened: list[str] = []
    declare = KafkaGraph._declare_topics
    subscribe = LeanConsumer.subscribe

    async def slow_declare(self: KafkaGraph) -> None:
        await asyncio.sleep(1.5)
        await declare(self)
        happened.append("topics created")

    async def recorded_subscribe(self: LeanConsumer, topics: Iterable[str]) -> None:
        happened.append("consumer subscribed")
        await subscribe(self, topics)

    monkeypatch.setattr(KafkaGraph, "_declare_topics", slow_declare)
    monkeypatch.setattr(LeanConsumer, "subscribe", recorded_subscribe)
    server = serve(_three_steps(), engine="kafka", brokers=kafka_broker.bootstrap_servers)
    assert server.test(body=4) == 7
    assert happened.index("topics created") < happened.index("consumer subscribed"), happened
