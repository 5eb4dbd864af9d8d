"""Records queued for a topic are delivered even when the producer's metadata narrows meanwhile.

The race behind events that got no answer (streamgraph/wire/producer.py): a topic known
only from an all-topics metadata refresh gets a record; before the record is sent, another topic
is tracked and the next refresh leaves the first one out. A 300 ms linger holds the record in the
accumulator long enough to make the race certain here.
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import NotLeaderForPartitionError

from streamgraph.core.event import Event
from streamgraph.engines.kafka.executor import Emission
from streamgraph.engines.kafka.sender import RecordSender
from streamgraph.wire.producer import TrackingProducer

pytestmark = pytest.mark.kafka

LINGER_MS = 300
TIMEOUT_MS = 5000  # an undelivered batch fails after this, so the control ends quickly


async def _topics(brokers: str, count: int) -> list[str]:
    names = [f"meta-{uuid.uuid4().hex[:10]}" for _ in range(count)]
    admin = AIOKafkaAdminClient(bootstrap_servers=brokers)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(name, 2, 1) for name in names])
    finally:
        await admin.close()
    return names


async def _narrowing_race(
    brokers: str, producer_class: type[AIOKafkaProducer], through_sender: bool
) -> None:
    """Queue a record for a topic seen in an all-topics refresh, then track another topic."""
    known, newcomer = await _topics(brokers, 2)
    producer = producer_class(
        bootstrap_servers=brokers, linger_ms=LINGER_MS, request_timeout_ms=TIMEOUT_MS
    )
    await producer.start()
    try:
        client = producer.client
        for _ in range(50):  # an all-topics refresh (the client tracks no topic yet)
            await client.force_metadata_update()
            if known in client.cluster.topics():
                break
            await asyncio.sleep(0.1)
        assert known in client.cluster.topics()  # (a new producer tracks no topic yet)
        if through_sender:
            sender = RecordSender(producer, {})
            delivery = await sender.send(Emission(known, Event({"n": 1}, "ev-1")))
        else:
            delivery = await producer.send(known, b"v", key=b"k")
        # as a first send to a topic missing from the metadata does: track it, refresh
        await client.add_topic(newcomer)
        assert newcomer in client.cluster.topics()
        metadata = await asyncio.wait_for(delivery, 3 * TIMEOUT_MS / 1000)
        assert metadata.topic == known and metadata.offset == 0
    finally:
        await producer.stop()


async def test_a_tracking_producer_delivers_through_the_narrowing(kafka_broker: Any) -> None:
    await _narrowing_race(kafka_broker.bootstrap_servers, TrackingProducer, through_sender=False)


async def test_the_record_sender_delivers_through_the_narrowing(kafka_broker: Any) -> None:
    # with a plain aiokafka producer: the sender tracks its topics itself
    await _narrowing_race(kafka_broker.bootstrap_servers, AIOKafkaProducer, through_sender=True)


async def test_a_plain_aiokafka_producer_loses_the_race(kafka_broker: Any) -> None:
    """The control: without tracking, the record waits for a leader that is never looked up,
    until its batch expires (after 20 minutes with Faust's request timeout).

    If this starts failing, aiokafka fixed the race and producer.py can go.
    """
    with pytest.raises(NotLeaderForPartitionError):
        await _narrowing_race(kafka_broker.bootstrap_servers, AIOKafkaProducer, False)


async def test_the_record_sender_follows_a_topic_that_gains_partitions(kafka_broker: Any) -> None:
    """The sender keeps a topic's partitions between metadata updates; an update that brings
    more partitions is followed at once, with the default partitioner's choice for the new count."""
    from aiokafka.admin import NewPartitions
    from aiokafka.partitioner import DefaultPartitioner

    brokers = kafka_broker.bootstrap_servers
    (topic,) = await _topics(brokers, 1)  # 2 partitions
    producer = AIOKafkaProducer(bootstrap_servers=brokers)
    await producer.start()
    admin = AIOKafkaAdminClient(bootstrap_servers=brokers)
    await admin.start()
    try:
        sender = RecordSender(producer, {})
        ids = [f"ev-{n}" for n in range(40)]

        async def partitions_of_sends() -> list[int]:
            deliveries = [await sender.send(Emission(topic, Event({}, i))) for i in ids]
            return [(await asyncio.wait_for(d, 10)).partition for d in deliveries]

        def chosen(count: int) -> list[int]:
            every = list(range(count))
            return [DefaultPartitioner()(i.encode(), every, every) for i in ids]

        assert await partitions_of_sends() == chosen(2)
        await admin.create_partitions({topic: NewPartitions(total_count=4)})
        for _ in range(50):  # bounded: 50 refreshes
            await producer.client.force_metadata_update()
            if len(producer.client.cluster.partitions_for_topic(topic) or ()) == 4:
                break
            await asyncio.sleep(0.1)
        else:
            raise AssertionError(f"the metadata never showed 4 partitions of {topic}")
        assert await partitions_of_sends() == chosen(4)
    finally:
        await admin.close()
        await producer.stop()
