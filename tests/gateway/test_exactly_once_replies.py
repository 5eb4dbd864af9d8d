"""The gateway in front of an exactly_once function: its replies come inside transactions.

The worker writes each answer to the gateway's reply topic inside the transaction of its input
partition; the gateway reads the topic read_committed (either Kafka client), so an answer
reaches the caller once its transaction committed, and never from an aborted one.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

import streamgraph as sg
from streamgraph.gateway import gateway_app
from streamgraph.testing import serve

pytestmark = pytest.mark.kafka


def double(body: dict[str, Any]) -> dict[str, Any]:
    return {**body, "x": body["x"] * 2}


def inc(body: dict[str, Any]) -> dict[str, Any]:
    return {**body, "x": body["x"] + 1}


NAMES = {"double": double, "inc": inc}


async def test_gateway_answers_an_exactly_once_function(
    kafka_broker: Any, kafka_client: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STREAMGRAPH_PROCESSING_GUARANTEE", "exactly_once")
    fn = sg.new_function(f"gw-eos-{kafka_client}", namespace=NAMES)
    fn.set_topology("flow").to(name="d", handler="double").to(name="i", handler="inc").respond()
    server = serve(fn, engine="kafka", brokers=kafka_broker.bootstrap_servers, namespace=NAMES)
    assert server.graph.eos is not None, "the worker runs exactly_once"
    settings = server.settings.model_copy(update={"gateway_kafka_client": kafka_client})
    client = TestClient(TestServer(gateway_app(fn.name, settings)))
    await client.start_server()
    try:
        responses = await asyncio.wait_for(
            asyncio.gather(*(client.post("/", json={"x": i}) for i in range(20))), 60
        )
        assert [r.status for r in responses] == [200] * 20
        assert [(await r.json())["x"] for r in responses] == [2 * i + 1 for i in range(20)]
        assert server.graph.eos.commits > 0, "the answers went through transactions"
    finally:
        await client.close()
        server.close()
