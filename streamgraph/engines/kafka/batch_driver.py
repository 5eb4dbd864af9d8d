"""The Faust agent of a Batch step: records in, the core's batching policy, batched records out.

What a Batch does is `core.batching`'s (a buffer per key, emitted when full or when its timer
fires, each visit counted towards `max_iterations`), the same as in process. This module feeds it
the agent's records and carries out what it decides through the executor. Every input record is
acknowledged once what it led to was delivered: the batch it ended up in, or its failure (so its
offset is committed only then: at-least-once).

(Faust's `stream.take()` hands events over only when a batch is complete, too late to answer a
caller who only waits for `{"id"}`, so the buffers are kept here, per agent.)
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from ...core.batching import Batcher, Cancellable, Flush
from ...core.event import Event
from ...core.outcome import Outcome
from .acks import Counters, DeliveryAcker
from .executor import StepExecutor

# the agent's decoder: the record's event, or None for an unreadable record (dead-lettered,
# its delivery futures added to the list)
Decode = Callable[[Any, str, list[Awaitable[Any]]], Awaitable[Event | None]]


class BatchDriver:
    """One Batch step's agent body and its flush of partly filled batches."""

    def __init__(
        self,
        name: str,
        executor: StepExecutor,
        decode: Decode,
        acker: DeliveryAcker,
        counters: Counters,
        pending: set[asyncio.Future[None]],
        declare_topics: Callable[[], Awaitable[None]],
    ) -> None:
        self.name = name
        self._executor = executor
        self._decode = decode
        self._acker = acker
        self._counters = counters
        self._pending = pending  # timer flushes under way (the app cancels them when it stops)
        self._declare_topics = declare_topics
        step = executor.plan.steps[name]
        self._batcher: Batcher[Any] = Batcher(step, _call_later, self._on_timer)

    def agent(self) -> Callable[[Any], Awaitable[None]]:
        """The agent body Faust runs over the step's stream."""

        async def agent(stream: Any) -> None:
            await self._declare_topics()
            async for record in stream.noack().events():
                await self._take(record)

        agent.__name__ = f"batch_{self.name}"
        return agent

    async def flush_all(self) -> None:
        """Emit every partly filled batch now (what `wait_for_completion` does)."""
        for flushed in self._batcher.flush_all():
            await self._emit(flushed)

    async def _take(self, record: Any) -> None:
        dead: list[Awaitable[Any]] = []
        event = await self._decode(record, self.name, dead)
        if event is None:
            self._counters.in_flight += 1  # (the acker counts it out)
            self._acker.add([record], dead)
            return
        executor = self._executor
        if executor.acks_at_start:
            # (the `{"id"}` answer's delivery is not waited for: the input waits for its batch)
            await executor.acknowledge(event, [])
        out = self._batcher.add(event, record)
        if out is None:
            return
        if isinstance(out, Flush):
            await self._emit(out)
        else:  # the step failed on this event (a loop limit): its error handler, or dead letters
            await self._carry(out, [record])

    async def _emit(self, flushed: Flush[Any]) -> None:
        await self._carry(flushed.outcome, flushed.tags)

    async def _carry(self, out: Outcome, records: list[Any]) -> None:
        """Send what `out` leads to; ack `records` once it was delivered."""
        self._counters.in_flight += 1  # from the first send on (the acker counts it out)
        sent = await self._executor.carry(self.name, out)
        self._acker.add(records, sent)

    def _on_timer(self, flushed: Flush[Any]) -> None:
        """A batch whose timer fired: sent from a task of its own, beside the agent."""
        task = asyncio.ensure_future(self._emit(flushed))
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)


def _call_later(delay: float, callback: Callable[[], object]) -> Cancellable:
    """The Batch timer on Kafka: the agent's event loop (the worker's)."""
    return asyncio.get_running_loop().call_later(delay, callback)
