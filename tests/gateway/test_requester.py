"""The requester never leaves a caller hanging, and gateway instances keep to their own replies."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from aiokafka.admin import AIOKafkaAdminClient

import streamgraph as sg
from streamgraph.gateway import gateway_app
from streamgraph.gateway.backend import REQUESTER
from streamgraph.testing import serve

pytestmark = pytest.mark.kafka


def double(body: dict[str, Any]) -> dict[str, Any]:
    return {**body, "x": body["x"] * 2}


NAMES = {"double": double}


async def test_a_record_the_broker_refuses_fails_at_once(
    kafka_broker: Any, kafka_client: str
) -> None:
    fn = sg.new_function("gw-refuse", namespace=NAMES)
    fn.set_topology("flow").to(name="d", handler="double").respond()
    server = serve(fn, engine="kafka", brokers=kafka_broker.bootstrap_servers, namespace=NAMES)
    # the gateway takes 4 MiB bodies; the broker's largest message is Kafka's default, ~1 MiB
    settings = server.settings.model_copy(
        update={
            "max_body_bytes": 4 * 1024 * 1024,
            "request_timeout_seconds": 20.0,
            "gateway_kafka_client": kafka_client,
        }
    )
    client = TestClient(TestServer(gateway_app(fn.name, settings)))
    await client.start_server()
    try:
        started = time.monotonic()
        resp = await client.post("/", json={"x": 1, "pad": "y" * (2 * 1024 * 1024)})
        waited = time.monotonic() - started
        assert resp.status == 413
        error = (await resp.json())["error"]
        assert "broker" in error and "too large" in error, error
        assert waited < settings.request_timeout_seconds / 2  # failed, not timed out
        # the gateway goes on answering
        ok = await client.post("/", json={"x": 4})
        assert ok.status == 200 and await ok.json() == {"x": 8}
    finally:
        await client.close()
        server.close()


async def test_gateway_instances_each_get_only_their_own_replies(
    kafka_broker: Any, kafka_client: str
) -> None:
    fn = sg.new_function("gw-many", namespace=NAMES)
    fn.set_topology("flow").to(name="d", handler="double").respond()
    server = serve(fn, engine="kafka", brokers=kafka_broker.bootstrap_servers, namespace=NAMES)
    settings = server.settings.model_copy(update={"gateway_kafka_client": kafka_client})
    apps = [gateway_app(fn.name, settings) for _ in range(3)]
    clients = [TestClient(TestServer(app)) for app in apps]
    for client in clients:
        await client.start_server()
    try:

        async def ask(i: int) -> tuple[int, Any]:
            resp = await clients[i % 3].post("/", json={"x": i})
            return resp.status, await resp.json()

        answers = await asyncio.gather(*(ask(i) for i in range(60)))
        assert answers == [(200, {"x": 2 * i}) for i in range(60)]
        requesters = [app[REQUESTER] for app in apps]
        # private reply topics, read without a consumer group: no rebalance can move them, and
        # no instance ever saw another's reply (it would have counted it as late)
        assert len({r.reply_topic for r in requesters}) == 3
        assert [r.late_replies for r in requesters] == [0, 0, 0]
    finally:
        for client in clients:
            await client.close()
        server.close()


async def test_a_missing_entry_topic_fails_at_once_and_is_not_created(
    kafka_broker: Any, kafka_client: str
) -> None:
    from aiokafka.admin import AIOKafkaAdminClient

    from streamgraph.settings import Settings

    settings = Settings(
        brokers=kafka_broker.bootstrap_servers,
        topic_prefix=f"missing{time.monotonic_ns()}",
        request_timeout_seconds=20.0,
        gateway_kafka_client=kafka_client,
    )
    client = TestClient(TestServer(gateway_app("nobody-runs-me", settings)))
    await client.start_server()
    try:
        started = time.monotonic()
        resp = await client.post("/", json={"x": 1})
        waited = time.monotonic() - started
        assert resp.status == 503
        error = (await resp.json())["error"]
        assert settings.topic("nobody-runs-me", "in") in error and "does not exist" in error
        assert waited < settings.request_timeout_seconds / 2  # failed, not timed out
    finally:
        await client.close()
    admin = AIOKafkaAdminClient(bootstrap_servers=kafka_broker.bootstrap_servers)
    await admin.start()
    try:
        assert settings.topic("nobody-runs-me", "in") not in await admin.list_topics()
    finally:
        await admin.close()


async def test_a_stopped_gateway_deletes_its_reply_topic(
    kafka_broker: Any, kafka_client: str
) -> None:
    fn = sg.new_function("gw-tidy", namespace=NAMES)
    fn.set_topology("flow").to(name="d", handler="double").respond()
    server = serve(fn, engine="kafka", brokers=kafka_broker.bootstrap_servers, namespace=NAMES)
    settings = server.settings.model_copy(update={"gateway_kafka_client": kafka_client})
    app = gateway_app(fn.name, settings)
    client = TestClient(TestServer(app))
    await client.start_server()
    try:
        assert (await (await client.post("/", json={"x": 2})).json()) == {"x": 4}
        reply_topic = app[REQUESTER].reply_topic
        assert reply_topic in await _topics(kafka_broker.bootstrap_servers)
    finally:
        await client.close()
        server.close()
    assert reply_topic not in await _topics(kafka_broker.bootstrap_servers)


async def _topics(brokers: str) -> set[str]:
    admin = AIOKafkaAdminClient(bootstrap_servers=brokers)
    await admin.start()
    try:
        return set(await admin.list_topics())
    finally:
        await admin.close()
