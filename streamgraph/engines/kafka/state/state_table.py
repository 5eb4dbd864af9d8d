"""One Merge or Collector step's entries on Kafka: kept by streamgraph, every change in a
changelog topic.

A step's entries live in memory, each with the input partition it belongs to (the changelog is
copartitioned with the step's topic, compacted, named as Faust names a table's changelog). A
step's changes go to the changelog with the records its inputs caused: under at_least_once an
input is acked only once its changes were delivered too; under exactly_once they go inside the
transaction of the input's partition (kafka/transactions.py), and commit with its records and
offsets or not at all. (A Faust table writes its changelog with Faust's own producer, outside those
transactions, and its recovery waits to read the changelog's last offset, which in a
transactional changelog is a commit marker no consumer sees. Its writes also need Faust's
per-event iteration, which costs a loop turn per record.)

Restoring reads a partition's changelog `read_committed` up to its end. It runs when the
partition is newly assigned (under exactly_once after its producer started, which fenced the
previous owner and closed what that one left open, so the end is final) and, under
exactly_once, after a failed transaction, whose changes the memory may hold but the changelog
does not.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Iterable, Iterator, MutableMapping
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from aiokafka import AIOKafkaConsumer
from aiokafka.structs import TopicPartition

from ....connection.kafka_security import KafkaSecurity
from ....errors import StreamgraphError
from ..sender import RecordSender

__all__ = ["StateTable"]

logger = logging.getLogger("streamgraph.kafka.state")

# the input partition whose records the running step is processing (set around a step's run)
_writing: ContextVar[int | None] = ContextVar("writing_partition", default=None)
# a partition's changelog not read to its end by then fails the assignment (the worker crashes
# and its partitions move on): entries expire, so a changelog holds little
RESTORE_SECONDS = 60.0


class StateTable(MutableMapping[bytes, bytes]):
    """One step's entries by key, each owned by an input partition; changes wait for `flush`.

    Writes happen in a step's synchronous code; `flush` sends them (under exactly_once inside
    the partition's transaction, before it commits)."""

    def __init__(self, changelog: str, brokers: str, security: KafkaSecurity) -> None:
        self.changelog = changelog
        self._brokers = brokers
        self._security = security
        self.data: dict[bytes, bytes] = {}
        self._partition_of: dict[bytes, int] = {}
        # per partition: the changes not yet sent (None deletes), in order, the last one per key
        self._pending: dict[int, dict[bytes, bytes | None]] = {}
        # per partition: expired entries' tombstones (sent by `flush` or `flush_forgotten`)
        self._forgotten: dict[int, set[bytes]] = {}

    # -- the mapping, as a step's state ---------------------------------------------------------
    def __getitem__(self, key: bytes) -> bytes:
        return self.data[key]

    def __setitem__(self, key: bytes, value: bytes) -> None:
        partition = self._partition()
        self.data[key] = value
        self._partition_of[key] = partition
        self._pending.setdefault(partition, {})[key] = value

    def __delitem__(self, key: bytes) -> None:
        partition = self._partition()
        del self.data[key]
        self._partition_of.pop(key, None)
        self._pending.setdefault(partition, {})[key] = None

    def __iter__(self) -> Iterator[bytes]:
        return iter(self.data)

    def __len__(self) -> int:
        return len(self.data)

    def _partition(self) -> int:
        partition = _writing.get()
        if partition is None:
            raise StreamgraphError(f"{self.changelog} changed outside a step's run on a record")
        return partition

    def partition_of(self, key: bytes) -> int | None:
        """The input partition `key`'s entry belongs to (None: no entry)."""
        return self._partition_of.get(key)

    # -- changes to the changelog ---------------------------------------------------------------
    @contextmanager
    def writing(self, partition: int) -> Iterator[None]:
        """Changes made within belong to `partition` (the input partition being processed)."""
        token = _writing.set(partition)
        try:
            yield
        finally:
            _writing.reset(token)

    async def flush(self, partition: int, sender: RecordSender) -> list[Awaitable[Any]]:
        """Send the partition's changes through `sender`; their delivery futures."""
        sent = []
        pending = self._pending.pop(partition, None)
        for key, value in (pending or {}).items():
            sent.append(await sender.send_raw(self.changelog, partition, key, value))
        return sent + await self.flush_forgotten(partition, sender)

    async def flush_forgotten(self, partition: int, sender: RecordSender) -> list[Awaitable[Any]]:
        """Send the partition's tombstones of expired entries; their delivery futures.

        (Not a step's pending changes: under at_least_once those go with their input's acks.)"""
        keys = self._forgotten.pop(partition, None) or ()
        return [await sender.send_raw(self.changelog, partition, key, None) for key in keys]

    def forget(self, key: bytes, partition: int) -> None:
        """Delete an expired entry; its tombstone waits for `flush_forgotten` or a `flush`."""
        if self.data.pop(key, None) is not None:
            self._partition_of.pop(key, None)
            self._forgotten.setdefault(partition, set()).add(key)

    def forgotten_partitions(self) -> list[int]:
        """Partitions with tombstones not sent yet."""
        return [partition for partition, keys in self._forgotten.items() if keys]

    def keep_only(self, partitions: Iterable[int]) -> None:
        """Drop the entries of every partition not in `partitions` (revoked)."""
        kept = set(partitions)
        for key, partition in list(self._partition_of.items()):
            if partition not in kept:
                self._drop(key)
        for changes in (self._pending, self._forgotten):
            for partition in list(changes):
                if partition not in kept:
                    del changes[partition]

    def _drop(self, key: bytes) -> None:
        self.data.pop(key, None)
        self._partition_of.pop(key, None)

    async def restore(self, partitions: Iterable[int]) -> None:
        """Replace the entries of `partitions` with what their changelog committed."""
        wanted = sorted(set(partitions))
        if not wanted:
            return
        for key, partition in list(self._partition_of.items()):
            if partition in wanted:
                self._drop(key)
        for partition in wanted:
            self._pending.pop(partition, None)
            self._forgotten.pop(partition, None)
        started = time.monotonic()
        restored = await self._read(wanted)
        logger.info(
            "restored %d entries of %s%s from its changelog in %.2f s",
            restored,
            self.changelog,
            wanted,
            time.monotonic() - started,
        )

    async def _read(self, partitions: list[int]) -> int:
        consumer = AIOKafkaConsumer(
            bootstrap_servers=self._brokers,
            enable_auto_commit=False,
            isolation_level="read_committed",  # never an aborted change
            **self._security.aiokafka_args(),
        )
        await consumer.start()
        try:
            tps = [TopicPartition(self.changelog, p) for p in partitions]
            consumer.assign(tps)
            await consumer.seek_to_beginning(*tps)
            ends = await consumer.end_offsets(tps)  # read_committed: the last stable offset
            remaining = {tp for tp in tps if ends[tp] > 0}
            deadline = time.monotonic() + RESTORE_SECONDS
            while remaining:
                if time.monotonic() > deadline:
                    raise StreamgraphError(
                        f"exactly_once: {self.changelog} not read to its end within "
                        f"{RESTORE_SECONDS:.0f} s (partitions "
                        f"{sorted(tp.partition for tp in remaining)})"
                    )
                fetched = await consumer.getmany(*remaining, timeout_ms=500)
                for tp, messages in fetched.items():
                    for message in messages:
                        if message.offset < ends[tp]:
                            self._apply(message.key, message.value, tp.partition)
                for tp in list(remaining):
                    # (the position passes commit markers, which are never fetched as records)
                    if await consumer.position(tp) >= ends[tp]:
                        remaining.discard(tp)
        finally:
            await consumer.stop()
        return sum(1 for p in self._partition_of.values() if p in partitions)

    def _apply(self, key: bytes | None, value: bytes | None, partition: int) -> None:
        if key is None:
            return
        if value is None:
            self._drop(key)
        else:
            self.data[key] = value
            self._partition_of[key] = partition
