"""The Merge and Collector tables of one app, by input topic: rebalances, runs, tombstones.

A step runs on the records of one input partition inside `StepStates.run`, so its table knows
which partition a change belongs to and sends the changes with the records they caused (through
the at_least_once sender, or the running transaction's under exactly_once). On a rebalance
(at_least_once) steps wait until the assigned partitions' entries were read from their
changelogs; under exactly_once the transactions restore them (`restore`, kafka/transactions.py).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from ....errors import StreamgraphError
from ..sender import RecordSender
from ..transactions import PartitionTransactions, current_sender
from .state_table import StateTable

__all__ = ["StepStates"]

Key = tuple[str, int]  # an input topic and partition


class StepStates:
    """The StateTables of a graph's Merge and Collector steps, by their input topics."""

    def __init__(self) -> None:
        self.by_topic: dict[str, StateTable] = {}
        # create the changelog topics (compacted, a partition per input partition) before they
        # are first read: the broker would auto-create a missing one with its own defaults
        self.declares: list[Callable[[], Awaitable[None]]] = []
        self._held: set[Key] = set()  # at_least_once: the partitions whose entries are held
        # at_least_once: closed from a rebalance's start (Faust's on_partitions_revoked signal)
        # until the assigned partitions' entries are read (its on_partitions_assigned signal,
        # which Faust may send after it resumed reading): a step waits for it to run
        self.ready = asyncio.Event()

    def on_revoked(self) -> None:
        """at_least_once: a rebalance begins; steps wait until `on_assigned` is done."""
        self.ready.clear()

    async def on_assigned(self, assigned: Iterable[Key]) -> None:
        """at_least_once: read newly assigned partitions' entries, drop revoked ones'."""
        wanted = {key for key in assigned if key[0] in self.by_topic}
        fresh, self._held = wanted - self._held, wanted
        await self.restore(wanted, fresh)
        self.ready.set()

    async def restore(self, assigned: set[Key], fresh: set[Key]) -> None:
        """transactions.Restore: drop revoked partitions, read `fresh` ones from changelogs."""
        declares, self.declares = self.declares, []
        for declare in declares:
            await declare()
        # (a Merge that is a starting step reads the entry topic too: one table, two topics)
        for table in {id(table): table for table in self.by_topic.values()}.values():
            topics = {topic for topic, mine in self.by_topic.items() if mine is table}
            table.keep_only(p for t, p in assigned if t in topics)
            await table.restore(p for t, p in fresh if t in topics)

    async def run(
        self,
        topic: str,
        partition: int,
        work: Callable[[], Awaitable[list[Awaitable[Any]]]],
        sender: RecordSender | None,
    ) -> list[Awaitable[Any]]:
        """Run `work` on records of `topic[partition]`; the deliveries it returns, and those of
        its state changes, sent through `sender` (None: the running transaction's)."""
        table = self.by_topic.get(topic)
        if table is None:
            return await work()
        sender = sender or current_sender.get()
        if sender is None:
            raise StreamgraphError(f"exactly_once: {topic}[{partition}] run outside a transaction")
        with table.writing(partition):
            sent = await work()
        sent.extend(await table.flush(partition, sender))
        return sent

    async def flush_forgotten(
        self, eos: PartitionTransactions | None, sender: RecordSender | None
    ) -> None:
        """Send expired entries' tombstones: through `sender` (at_least_once), or under
        exactly_once each partition's in a transaction of its producer (whose lock keeps the
        partition's batches' transactions apart)."""
        for topic, table in self.by_topic.items():  # (under exactly_once one topic a table)
            for partition in table.forgotten_partitions():
                if eos is None:
                    assert sender is not None
                    await table.flush_forgotten(partition, sender)
                    continue

                async def tombstones(table: StateTable = table, p: int = partition) -> None:
                    transaction = current_sender.get()
                    assert transaction is not None  # (set by the transaction)
                    await table.flush_forgotten(p, transaction)

                await eos.run(topic, partition, None, tombstones)  # (no offset to commit)
