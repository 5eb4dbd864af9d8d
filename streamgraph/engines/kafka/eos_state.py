"""Merge and Collector state under exactly_once: kept by streamgraph, changed in transactions.

A Faust table writes its changelog with Faust's own producer, outside streamgraph's transactions
(transactions.py), and its recovery waits for an offset that, in a transactional changelog, is a
commit marker no consumer ever sees. So under exactly_once a Merge or Collector step keeps its
entries here instead: in memory, with the input partition each one belongs to, and every change
goes to the step's changelog topic (compacted, the one Faust's table would use, copartitioned
with the step's topic) through the transactional producer of the input partition being
processed. A change commits with the records and offsets of its transaction, or not at all.

Restoring reads a partition's changelog `read_committed` up to its end. It runs when the
partition is assigned (after its producer started, which fenced the previous owner and closed
what that one left open, so the end is final) and again after a failed transaction, whose
changes the memory may hold but the changelog does not.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Iterable, Iterator, MutableMapping
from contextlib import contextmanager
from contextvars import ContextVar

from aiokafka import AIOKafkaConsumer
from aiokafka.structs import TopicPartition

from ...errors import StreamgraphError
from .sender import RecordSender
from .transactions import PartitionTransactions, current_sender

__all__ = ["StepStates", "TransactionalTable"]

logger = logging.getLogger("streamgraph.kafka.eos")

# the input partition whose transaction the running step is in (each lane is its own task)
_writing: ContextVar[int | None] = ContextVar("writing_partition", default=None)
# a partition's changelog not read to its end by then fails the assignment (the worker crashes
# and its partitions move on): entries expire, so a changelog holds little
RESTORE_SECONDS = 60.0


class TransactionalTable(MutableMapping[bytes, bytes]):
    """One step's entries by key, each owned by an input partition; changes wait for `flush`.

    Writes happen in a step's synchronous code; `flush` sends them, inside the partition's
    transaction, before it commits."""

    def __init__(self, changelog: str, brokers: str) -> None:
        self.changelog = changelog
        self._brokers = brokers
        self.data: dict[bytes, bytes] = {}
        self._partition_of: dict[bytes, int] = {}
        # per partition: the changes not yet sent (None deletes), in order, the last one per key
        self._pending: dict[int, dict[bytes, bytes | None]] = {}

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
            raise StreamgraphError(
                f"exactly_once: {self.changelog} changed outside a partition's transaction"
            )
        return partition

    @staticmethod
    def current_partition() -> int | None:
        """The input partition being processed (None outside a transaction)."""
        return _writing.get()

    # -- transactions ---------------------------------------------------------------------------
    @contextmanager
    def writing(self, partition: int) -> Iterator[None]:
        """Changes made within belong to `partition` (the input partition being processed)."""
        token = _writing.set(partition)
        try:
            yield
        finally:
            _writing.reset(token)

    async def flush(self, partition: int, sender: RecordSender) -> None:
        """Send the partition's changes through `sender` (inside the partition's transaction)."""
        pending = self._pending.pop(partition, None)
        for key, value in (pending or {}).items():
            await sender.send_raw(self.changelog, partition, key, value)

    def forget(self, key: bytes, partition: int) -> None:
        """Delete an expired entry; its tombstone goes with the partition's next transaction."""
        if self.data.pop(key, None) is not None:
            self._partition_of.pop(key, None)
            self._pending.setdefault(partition, {})[key] = None

    def changed_partitions(self) -> list[int]:
        """Partitions with changes not sent yet (expired entries' tombstones, between batches)."""
        return [partition for partition, pending in self._pending.items() if pending]

    def keep_only(self, partitions: Iterable[int]) -> None:
        """Drop the entries of every partition not in `partitions` (revoked)."""
        kept = set(partitions)
        for key, partition in list(self._partition_of.items()):
            if partition not in kept:
                self._drop(key)
        for partition in list(self._pending):
            if partition not in kept:
                del self._pending[partition]

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


class StepStates:
    """The TransactionalTables of a graph's Merge and Collector steps, by their input topic."""

    def __init__(self) -> None:
        self.by_topic: dict[str, TransactionalTable] = {}
        # create the changelog topics (compacted, a partition per input partition) before they
        # are first read: the broker would auto-create a missing one with its own defaults
        self.declares: list[Callable[[], Awaitable[None]]] = []

    async def restore(self, assigned: set[tuple[str, int]], fresh: set[tuple[str, int]]) -> None:
        """transactions.Restore: drop revoked partitions, read `fresh` ones from changelogs."""
        declares, self.declares = self.declares, []
        for declare in declares:
            await declare()
        for topic, table in self.by_topic.items():
            table.keep_only(p for t, p in assigned if t == topic)
            await table.restore(p for t, p in fresh if t == topic)

    async def flush_forgotten(self, eos: PartitionTransactions) -> int:
        """Send expired entries' tombstones, each partition's in a transaction of its producer
        (one of its batches' transactions may have taken them already); how many partitions."""
        flushed = 0
        for topic, table in self.by_topic.items():
            for partition in table.changed_partitions():

                async def tombstones(table: TransactionalTable = table, p: int = partition) -> None:
                    sender = current_sender.get()
                    assert sender is not None  # (set by the transaction)
                    await table.flush(p, sender)

                # no offset: the partition's lock keeps its batches' transactions apart
                flushed += await eos.run(topic, partition, None, tombstones)
        return flushed

    async def run(self, topic: str, partition: int, work: Callable[[], Awaitable[object]]) -> None:
        """Run `work` on records of `topic[partition]`; its state changes join the transaction."""
        table = self.by_topic.get(topic)
        if table is None:
            await work()
            return
        sender = current_sender.get()
        if sender is None:
            raise StreamgraphError(f"exactly_once: {topic}[{partition}] run outside a transaction")
        with table.writing(partition):
            await work()
        await table.flush(partition, sender)
