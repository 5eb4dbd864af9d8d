"""Producing the executor's records: encode, choose the partition, hand to aiokafka's producer.

The partition is the one aiokafka's default partitioner would choose (murmur2 of the key, as
the Java client), computed here so it can be cached: every record of one event carries the same
key (the event id), so a flow of N steps in one worker hashes each key once instead of N times,
and aiokafka's own per-record partitioning work is skipped. The partitions of a topic are kept
between metadata updates (aiokafka builds a new set for every lookup).
"""

from __future__ import annotations

from collections.abc import Awaitable
from functools import lru_cache
from typing import Any

from aiokafka.partitioner import murmur2

from ...wire.codec import H_ORIGIN_TOPIC, encode
from ...wire.producer import track_topic
from .executor import Emission

__all__ = ["RecordSender"]


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
        self._partitions: dict[str, list[int]] = {}  # per topic, until the metadata changes
        self._metadata.add_listener(self._forget_partitions)

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
            partitions = list(self._metadata.partitions_for_topic(topic) or ())
            if partitions:
                self._partitions[topic] = partitions
        partition = partitions[_key_hash(key) % len(partitions)] if partitions else None
        return await self._producer.send(
            topic, value, key=key, partition=partition, headers=headers
        )
