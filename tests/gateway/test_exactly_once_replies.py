"""The gateway in front of an exactly_once function: its replies come inside transactions.

The worker writes each answer to the gateway's reply topic inside the transaction of its input
partition; the gateway reads the topic read_committed (either Kafka client), so an answer
reaches the caller once its transaction committed, and never from an aborted one. The first
test shows answers arrive through a real worker's transactions; the second, where the test
plays the worker, that a reply in an aborted transaction never reaches the caller.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from aiohttp import ClientResponse
from aiohttp.test_utils import TestClient, TestServer
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

import streamgraph as sg
from streamgraph.connection.kafka_security import kafka_security
from streamgraph.gateway import KafkaRequester, gateway_app
from streamgraph.gateway.backend import REQUESTER
from streamgraph.settings import Settings
from streamgraph.testing import serve
from streamgraph.wire.codec import KafkaReply, decode, encode
from streamgraph.wire.reply_topics import create_topic

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


WAIT = 60.0  # seconds any one step below may take (the gateway ready, a record, the answer)


async def test_the_gateway_never_answers_from_an_aborted_transaction(
    kafka_broker: Any, kafka_client: str
) -> None:
    """No worker: the test plays it. It reads the gateway's request off the entry topic, writes
    a well-formed reply with a WRONG body to the gateway's reply topic in a transaction it
    aborts, then the right reply in one it commits. Read read_uncommitted, the aborted record
    (first in the log) would answer the caller; read_committed it is never seen."""
    brokers = kafka_broker.bootstrap_servers
    settings = Settings(
        brokers=brokers,
        topic_prefix=f"abort{time.monotonic_ns()}",
        request_timeout_seconds=WAIT,
        gateway_kafka_client=kafka_client,
    )
    name = "played-by-the-test"
    entry = settings.topic(name, "in")
    await create_topic(brokers, entry, security=kafka_security(settings))  # as a worker would
    requests = AIOKafkaConsumer(bootstrap_servers=brokers, enable_auto_commit=False)
    producer = AIOKafkaProducer(
        bootstrap_servers=brokers, transactional_id=f"test-abort-{uuid.uuid4().hex[:12]}"
    )
    app = gateway_app(name, settings)
    client = TestClient(TestServer(app))
    asked: asyncio.Task[ClientResponse] | None = None
    await requests.start()
    await producer.start()
    await client.start_server()
    try:
        requests.assign([TopicPartition(entry, 0)])
        await requests.seek_to_beginning(TopicPartition(entry, 0))
        requester = app[REQUESTER]
        assert isinstance(requester, KafkaRequester)
        await _until(lambda: requester.ready, "the gateway to be ready")
        asked = asyncio.create_task(client.post("/", json={"x": 1}))

        record = await asyncio.wait_for(_one_record(requests), WAIT)
        request = decode(record.key, record.value, record.headers)
        assert isinstance(request.reply, KafkaReply), "the request says where to answer"
        assert request.reply.topic == requester.reply_topic

        async def reply(body: dict[str, Any], commit: bool) -> None:
            key, value, headers = encode(request.copy(body=body), status=200)
            await producer.begin_transaction()
            await producer.send_and_wait(request.reply.topic, value, key=key, headers=headers)
            if commit:
                await producer.commit_transaction()
            else:
                await producer.abort_transaction()

        await reply({"x": "from an aborted transaction"}, commit=False)
        await reply({"x": 2}, commit=True)
        resp = await asyncio.wait_for(asked, WAIT)
        assert resp.status == 200
        assert await resp.json() == {"x": 2}, "the caller got the aborted transaction's reply"
        # the one reply read was the committed one; the aborted one was never delivered
        assert (requester.replies, requester.late_replies) == (1, 0)
    finally:
        if asked is not None and not asked.done():
            asked.cancel()  # a failed check above: the request must not outlive the test
            await asyncio.gather(asked, return_exceptions=True)
        await client.close()
        await producer.stop()
        await requests.stop()


async def _one_record(consumer: AIOKafkaConsumer) -> Any:
    """The first record `consumer` reads (bounded by the caller)."""
    while True:
        batches = await consumer.getmany(timeout_ms=500, max_records=1)
        for batch in batches.values():
            if batch:
                return batch[0]


async def _until(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + WAIT
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"waited {WAIT:.0f} s for {what}")
        await asyncio.sleep(0.1)
