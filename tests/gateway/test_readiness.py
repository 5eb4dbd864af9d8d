"""/readyz is honest: 200 only once the broker answers, the reply partition is read and the
function's entry topic exists; it turns 503 again when the entry topic goes away.

The gateways (one per Kafka client) start before their broker exists: they must come up, say
what they wait for, and get ready by themselves once the broker and then the topic are there.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from streamgraph.broker.local_kafka import LocalKafka
from streamgraph.broker.probe import free_ports
from streamgraph.gateway import gateway_app
from streamgraph.settings import Settings
from streamgraph.wire.reply_client import CLIENT_NAMES

pytestmark = pytest.mark.kafka

WAIT = 60.0  # seconds any one readiness change may take


async def readyz(client: TestClient) -> tuple[int, str]:
    resp = await client.get("/readyz")
    body = await resp.json()
    return resp.status, str(body.get("error", body.get("status")))


async def until(
    clients: dict[str, TestClient], want: Callable[[int, str], bool], what: str
) -> dict[str, tuple[int, str]]:
    """Ask every gateway's /readyz until `want(status, text)` holds for all of them."""
    deadline = time.monotonic() + WAIT
    seen: dict[str, tuple[int, str]] = {}
    while True:
        seen = {name: await readyz(client) for name, client in clients.items()}
        if all(want(*answer) for answer in seen.values()):
            return seen
        if time.monotonic() > deadline:
            raise AssertionError(f"/readyz did not turn to {what} within {WAIT:.0f} s: {seen}")
        await asyncio.sleep(0.2)


async def _admin(brokers: str, work: Callable[[AIOKafkaAdminClient], Any]) -> Any:
    admin = AIOKafkaAdminClient(bootstrap_servers=brokers)
    await admin.start()
    try:
        return await work(admin)
    finally:
        await admin.close()


async def test_gateway_started_before_broker_and_topics_gets_ready_only_when_both_are_there() -> (
    None
):
    port = free_ports(1)[0]
    brokers = f"127.0.0.1:{port}"
    settings = Settings(brokers=brokers, topic_prefix="ready")
    entry = settings.topic("fn", "in")
    clients = {
        name: TestClient(
            TestServer(
                gateway_app("fn", settings.model_copy(update={"gateway_kafka_client": name}))
            )
        )
        for name in CLIENT_NAMES
    }
    broker = LocalKafka(port=port)
    try:
        for client in clients.values():
            await client.start_server()  # no broker: the gateway still comes up
        for name, (status, text) in (await until(clients, lambda s, t: True, "any")).items():
            assert status == 503, (name, text)
            assert "ServiceUnavailableError" in text and brokers in text, (name, text)
            assert (await clients[name].get("/healthz")).status == 200
            # a request says the same at once, it does not hang
            resp = await clients[name].post("/", json={"x": 1})
            assert resp.status == 503 and brokers in (await resp.json())["error"]

        broker.start()  # blocks the loop while the JVM starts; the gateways catch up after
        missing = f"entry topic {entry} does not exist yet"
        await until(clients, lambda s, t: s == 503 and missing in t, "'entry topic missing'")
        # asking about the entry topic never created it (the broker auto-creates on demand)
        topics = await _admin(brokers, lambda admin: admin.list_topics())
        assert entry not in topics

        await _admin(brokers, lambda admin: admin.create_topics([NewTopic(entry, 1, 1)]))
        ready = await until(clients, lambda s, t: s == 200, "200")
        assert all(text == "ready" for _, text in ready.values()), ready

        # lost again: the entry topic is deleted
        await _admin(brokers, lambda admin: admin.delete_topics([entry]))
        await until(clients, lambda s, t: s == 503 and missing in t, "503 after the topic went")
        await _admin(brokers, lambda admin: admin.create_topics([NewTopic(entry, 1, 1)]))
        await until(clients, lambda s, t: s == 200, "200 once the topic is back")

        # lost again: the broker goes away
        broker.stop()
        gone = f"Kafka at {brokers} does not answer"
        await until(clients, lambda s, t: s == 503 and gone in t, "503 after the broker went")
    finally:
        for client in clients.values():
            await client.close()
        broker.stop()
