"""Both Kafka clients under the requester keep the same contract, on the real broker."""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

import pytest

from streamgraph.connection.kafka_security import KafkaSecurity, kafka_security
from streamgraph.errors import PayloadTooLargeError
from streamgraph.settings import Settings
from streamgraph.wire.reply_client import CLIENT_NAMES, Record
from streamgraph.wire.reply_client_factory import make_client
from streamgraph.wire.reply_topics import create_topic, delete_reply_topic

pytestmark = pytest.mark.kafka

WAIT = 20.0  # seconds any single Kafka round trip below may take


def _security() -> KafkaSecurity:
    """The clients' security as the environment sets it (PLAINTEXT on the test broker)."""
    return kafka_security(Settings())


class Sent:
    """A `Delivery` that remembers what the client reported."""

    def __init__(self) -> None:
        self.delivered = False
        self.errors: list[Exception] = []

    def failed(self, exc: Exception) -> None:
        self.errors.append(exc)


@pytest.fixture(params=CLIENT_NAMES)
def client_name(request: pytest.FixtureRequest) -> str:
    name: str = request.param
    return name


async def _until(check: Any, what: str) -> None:
    async with asyncio.timeout(WAIT):
        while not check():
            await asyncio.sleep(0.01)
    assert check(), what


async def test_records_sent_to_the_reply_topic_come_back_in_order(
    kafka_broker: Any, client_name: Any
) -> None:
    brokers = kafka_broker.bootstrap_servers
    topic = f"sg-client-{uuid.uuid4().hex[:8]}"
    await create_topic(brokers, topic, security=_security())
    client = make_client(client_name, brokers, 0, 2 * 1024 * 1024, WAIT, _security())
    received: list[Record] = []
    loop = asyncio.get_running_loop()
    threads: set[bool] = set()

    def deliver(records: list[Record]) -> None:
        threads.add(asyncio.get_running_loop() is loop)  # on the loop, never a client thread
        received.extend(records)

    await client.start(topic, deliver)
    try:
        assert await client.topic_exists(topic)
        assert not await client.topic_exists(f"{topic}-nobody")
        sent = [Sent() for _ in range(50)]
        for i, delivery in enumerate(sent):
            headers = [("sg-correlation-id", str(i).encode()), ("x-n", b"1")]
            await client.send(topic, b"k", str(i).encode(), headers, delivery)
        await _until(lambda: len(received) == 50, "every record read back")
        await _until(lambda: all(s.delivered for s in sent), "no verdict pending")
        assert [value for _, value, _, _ in received] == [str(i).encode() for i in range(50)]
        key, _, headers, stamp = received[0]
        assert key == b"k"
        assert stamp is not None and abs(stamp / 1000 - time.time()) < 60  # the send time
        assert list(headers or ()) == [("sg-correlation-id", b"0"), ("x-n", b"1")]
        assert threads == {True}
        assert not any(s.errors for s in sent)
    finally:
        await client.stop()
        await delete_reply_topic(brokers, topic, security=_security())
    # a nonexistent topic is only looked at, never created
    assert not await _exists_after_restart(client_name, brokers, f"{topic}-nobody")


async def _exists_after_restart(name: Any, brokers: str, topic: str) -> bool:
    probe_topic = f"sg-client-{uuid.uuid4().hex[:8]}"
    await create_topic(brokers, probe_topic, security=_security())
    client = make_client(name, brokers, 0, 1024 * 1024, WAIT, _security())
    await client.start(probe_topic, lambda records: None)
    try:
        return await client.topic_exists(topic)
    finally:
        await client.stop()
        await delete_reply_topic(brokers, probe_topic, security=_security())


async def test_a_record_the_broker_refuses_is_reported_too_large(
    kafka_broker: Any, client_name: Any
) -> None:
    brokers = kafka_broker.bootstrap_servers
    topic = f"sg-client-{uuid.uuid4().hex[:8]}"
    await create_topic(brokers, topic, security=_security())
    # the client takes 4 MiB; the broker's largest message is Kafka's default, about 1 MiB
    client = make_client(client_name, brokers, 0, 4 * 1024 * 1024, WAIT, _security())
    await client.start(topic, lambda records: None)
    try:
        sent = Sent()
        try:
            await client.send(topic, b"k", b"y" * (2 * 1024 * 1024), [], sent)
        except PayloadTooLargeError as exc:  # some clients know it before the broker answers
            sent.errors.append(exc)
        await _until(lambda: bool(sent.errors), "the refusal reported")
        assert isinstance(sent.errors[0], PayloadTooLargeError), sent.errors
        assert "too large for the Kafka broker" in str(sent.errors[0])
    finally:
        await client.stop()
        await delete_reply_topic(brokers, topic, security=_security())
