"""Producing the executor's records: encode, choose the partition, hand to aiokafka's producer.

The partition is the one aiokafka's default partitioner would choose (murmur2 of the key, as
the Java client), computed here so it can be cached: every record of one event carries the same
key (the event id), so a flow of N steps in one worker hashes each key once instead of N times,
and aiokafka's own per-record partitioning work is skipped. The partitions of a topic are kept
between metadata updates (aiokafka builds a new set for every lookup).

Once a topic's partitions are known, a record goes straight to the producer's accumulator with
the checks `AIOKafkaProducer.send` makes (a transactional producer outside a transaction, a
record over `max_request_size`: both take `send`, which raises): `send` waited on the metadata
and rebuilt the partition set twice per record (upstream.py fingerprints both members).
"""

from __future__ import annotations

from collections.abc import Awaitable
from functools import lru_cache
from struct import Struct
from typing import Any

from aiokafka.record.default_records import DefaultRecordBatchBuilder
from aiokafka.structs import TopicPartition

from ...wire.codec import H_ORIGIN_TOPIC, encode
from ...wire.producer import track_topic
from .executor import Emission

__all__ = ["RecordSender"]


_estimate = DefaultRecordBatchBuilder.estimate_size_in_bytes  # AIOKafkaProducer._serialize's
_M = 0x5BD1E995
_WORDS = Struct("<I")


def murmur2(data: bytes) -> int:
    """The Java client's murmur2, as `aiokafka.partitioner.murmur2`, at about a third of its
    cost: whole little-endian words at once, fewer masks (tests/kafka/test_sender.py)."""
    length = len(data)
    h = 0x9747B28C ^ length
    whole = length & ~3
    for (k,) in _WORDS.iter_unpack(data[:whole]):
        k = (k * _M) & 0xFFFFFFFF
        k = ((k ^ (k >> 24)) * _M) & 0xFFFFFFFF
        h = ((h * _M) & 0xFFFFFFFF) ^ k
    extra = length & 3
    if extra:
        if extra == 3:
            h ^= data[whole + 2] << 16
        if extra >= 2:
            h ^= data[whole + 1] << 8
        h = ((h ^ data[whole]) * _M) & 0xFFFFFFFF
    h = ((h ^ (h >> 13)) * _M) & 0xFFFFFFFF
    return h ^ (h >> 15)


@lru_cache(maxsize=16384)  # keys in flight; a few MB at most
def _key_hash(key: bytes) -> int:
    return murmur2(key) & 0x7FFFFFFF


class RecordSender:
    """Sends emissions through an aiokafka producer; counts records per topic."""

    def __init__(self, producer: Any, produced: dict[str, int]) -> None:
        self._producer = producer
        self._client = producer.client
        self._metadata = producer.client.cluster
        self._produced = produced
        self._tracked: set[str] = set()  # topics kept in the producer's metadata (producer.py)
        # per topic, its partitions in the default partitioner's order, until the metadata changes
        self._partitions: dict[str, list[TopicPartition]] = {}
        self._metadata.add_listener(self._forget_partitions)
        # the straight path to the accumulator: only for a producer that serializes nothing
        self._accumulator = producer._message_accumulator
        self._direct = producer._key_serializer is None and producer._value_serializer is None
        self._txn = producer._txn_manager
        self._timeout = producer._request_timeout_ms / 1000
        self._max_size = producer._max_request_size

    def _forget_partitions(self, metadata: Any) -> None:
        self._partitions = {}

    def _count(self, topic: str) -> None:
        produced = self._produced
        produced[topic] = produced.get(topic, 0) + 1
        if topic not in self._tracked:
            self._tracked.add(topic)
            track_topic(self._client, topic)

    async def send_raw(
        self, topic: str, partition: int, key: bytes, value: bytes | None
    ) -> Awaitable[Any]:
        """Queue a record as it is, to `partition` (a state changelog's change)."""
        self._count(topic)
        return await self._producer.send(topic, value, key=key, partition=partition)

    async def send(self, emission: Emission) -> Awaitable[Any]:
        """Queue the record; returns its delivery future (never awaited here)."""
        key, value, headers = encode(emission.event, emission.status)
        if emission.origin_topic:
            headers.append((H_ORIGIN_TOPIC, emission.origin_topic.encode()))
        topic = emission.topic
        self._count(topic)
        partitions = self._partitions.get(topic)
        if partitions is None:
            # the default partitioner's list: list(partitions)[murmur2(key) % len(partitions)]
            found = self._metadata.partitions_for_topic(topic)
            partitions = [TopicPartition(topic, p) for p in found or ()]
            if not partitions:  # aiokafka's send waits for the metadata, and partitions
                return await self._producer.send(topic, value, key=key, headers=headers)
            self._partitions[topic] = partitions
        tp = partitions[_key_hash(key) % len(partitions)]
        txn = self._txn
        if (
            self._direct
            and (txn is None or txn.transactional_id is None or txn.is_in_transaction())
            and _estimate(key, value, headers) <= self._max_size
        ):
            return await self._accumulator.add_message(
                tp, key, value, self._timeout, headers=headers
            )
        return await self._producer.send(
            topic, value, key=key, partition=tp.partition, headers=headers
        )
