"""The step agents' record loop: decode, run the step, send, ack.

A step agent (every step but a Batch) takes its records one by one from a stock Faust stream
(`lean_transport=false`), or in lean batches (transport.py, batches.py). It runs the step on
each record through `StepExecutor` and acks the records only once the broker acknowledged what
they caused (acks.py): an offset is committed only after the outputs it caused are safe
(at-least-once). Delivery is never awaited record by record: the agent goes on with the next
batch while earlier sends complete. A Merge's or Collector's records run partition by partition,
so their state changes go to the changelog with them (state/step_states.py).

Under `processing_guarantee="exactly_once"` an agent hands each batch's records of one input
partition to that partition's lane (transactions.py), which runs them inside a transaction of
the partition's producer that also commits their offsets; the records are acked (for Faust's
bookkeeping) once it committed.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from time import perf_counter
from typing import Any

from ...core import tracing
from ...core.compile import Plan
from ...core.event import Event
from ...core.outcome import MERGING
from ...core.request_deadline import expired
from ...wire.codec import RecordError, decode
from .acks import Counters, DeliveryAcker, ack_all
from .executor import StepExecutor
from .hop_trace import queue_span
from .metrics import StepStats
from .outbox import Outbox
from .state.step_states import StepStates
from .transactions import PartitionTransactions

__all__ = ["MAX_BATCH", "RecordDriver"]

logger = logging.getLogger("streamgraph.kafka")

# most records a step agent takes from its queue at once (one burst of sends, one ack entry)
MAX_BATCH = 500


class RecordDriver:
    """Runs the step agents of one app: their records through the executor, then acks."""

    def __init__(
        self,
        *,
        plan: Plan,
        executor: StepExecutor,
        outbox: Outbox,
        acker: DeliveryAcker,
        counters: Counters,
        step_stats: StepStats,
        states: StepStates,
        eos: PartitionTransactions | None,
        declare_topics: Callable[[], Awaitable[None]],
        lean: bool,
    ) -> None:
        self.plan = plan
        self.executor = executor
        self.outbox = outbox
        self.acker = acker
        self.counters = counters
        self.step_stats = step_stats
        self.states = states  # Merge and Collector state, by input topic
        self.eos = eos  # exactly_once: a transaction per batch and input partition
        self.declare_topics = declare_topics  # awaited before an agent's first record
        self.lean = lean

    def agent(self, name: str) -> Any:
        """The Faust agent of step `name`."""
        per_event = not self.lean  # a stock Faust stream has no `batches()`

        async def agent(stream: Any) -> None:
            await self.declare_topics()
            if per_event:
                async for record in stream.noack().events():
                    await self.run_records(name, [record])
            elif self.eos is not None:
                async for records in stream.batches(MAX_BATCH):
                    await self.run_in_transactions(name, records)
            else:
                async for records in stream.batches(MAX_BATCH):
                    await self.run_records(name, records)

        agent.__name__ = f"step_{name}"
        return agent

    async def run_records(self, name: str, records: list[Any]) -> None:
        """Run step `name` on each record; ack them all once everything they caused is sent
        (a Merge's or Collector's state changes included)."""
        if self.plan.steps[name].stateful in MERGING:
            if not self.states.ready.is_set():  # a rebalance: the entries are being read
                await self.states.ready.wait()
            sent: list[Awaitable[Any]] = []
            sender = self.outbox.sender()
            for (topic, partition), part in _by_partition(records).items():

                async def work(part: list[Any] = part) -> list[Awaitable[Any]]:
                    return await self.run_steps(name, part)

                sent += await self.states.run(topic, partition, work, sender)
        else:
            sent = await self.run_steps(name, records)
        self.counters.in_flight += 1
        self.acker.add(records, sent)

    async def run_in_transactions(self, name: str, records: list[Any]) -> None:
        """exactly_once: each input partition's records to its next transaction (group commit).

        The records are acked once it committed; the ack only lets Faust forget them (its offset
        commits are off): the offsets are committed by the transaction, with what they caused."""
        eos = self.eos
        assert eos is not None

        async def work(part: list[Any]) -> None:
            # the delivery futures need no wait: the commit waits for them, and fails if one did
            message = part[0].message
            await self.states.run(
                message.topic, message.partition, lambda: self.run_steps(name, part), None
            )

        for (topic, partition), part in _by_partition(records).items():
            self.counters.in_flight += len(part)
            await eos.submit(topic, partition, part, work, self._committed)

    def _committed(self, records: list[Any]) -> None:
        ack_all(records)
        self.counters.in_flight -= len(records)

    async def run_steps(self, name: str, records: list[Any]) -> list[Awaitable[Any]]:
        """Run step `name` on each record; the delivery futures of everything sent."""
        sent: list[Awaitable[Any]] = []
        consumed = self.counters.consumed
        for record in records:
            message = record.message
            topic = message.topic
            consumed[topic] = consumed.get(topic, 0) + 1
            try:  # (`decode` below, spelled out: no coroutine per record)
                event = decode(message.key, message.value, message.headers)
            except RecordError as exc:
                await self._undecodable(message, exc, name, sent)
                continue
            if tracing.ENABLED:
                queue_span(event, record.message)
            if event.deadline is not None and expired(event):
                self.executor.expired.note(name, event)  # acked with the others, never run
                continue
            started = perf_counter()
            try:
                sent.extend(await self.executor.run(name, event))
            except Exception as exc:  # the executor routes step errors; this is a bug
                logger.exception("step %s crashed on event %s", name, event.id)
                sent.append(await self.executor.dead_letter(event, f"internal error: {exc}", name))
            self.step_stats.record(name, perf_counter() - started, event)
        return sent

    async def decode(self, record: Any, name: str, sent: list[Awaitable[Any]]) -> Event | None:
        """The record's event; None for an unreadable record, sent to the dead letters (a Batch
        step's agent; `run_steps` spells it out)."""
        message = record.message
        self.counters.consumed[message.topic] = self.counters.consumed.get(message.topic, 0) + 1
        try:
            return decode(message.key, message.value, message.headers)
        except RecordError as exc:
            await self._undecodable(message, exc, name, sent)
            return None

    async def _undecodable(
        self, message: Any, exc: RecordError, name: str, sent: list[Awaitable[Any]]
    ) -> None:
        """An unreadable record: to the dead letters with the reason."""
        self.counters.dead_letters += 1
        raw = Event(message.value, None)
        sent.append(await self.executor.dead_letter(raw, str(exc), name))


def _by_partition(records: list[Any]) -> dict[tuple[str, int], list[Any]]:
    """The records of each input topic and partition, in their order."""
    parts: dict[tuple[str, int], list[Any]] = {}
    for record in records:
        message = record.message
        parts.setdefault((message.topic, message.partition), []).append(record)
    return parts
