"""Acking a worker's inputs once the broker took every output they caused (at_least_once).

An input's offset is committed only after what it caused is safe. One acker task per app checks
deliveries in arrival order, so the hot path neither awaits a send nor creates a task per event.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from faust.events import Event as FaustEvent
from faust.types.tuples import Message, ack_lock

__all__ = ["Counters", "DeliveryAcker", "ack_all", "delivered"]

logger = logging.getLogger("streamgraph.kafka")

# a delivery pending this long gets a warning in the log (and again after as long again)
SLOW_DELIVERY_SECONDS = 15.0


class Counters:
    """What the agents did: records in and out per topic, dead letters, in flight."""

    def __init__(self) -> None:
        self.consumed: dict[str, int] = {}
        self.produced: dict[str, int] = {}
        self.dead_letters = 0
        self.errors = 0
        self.in_flight = 0
        self.expired = 0  # incomplete Merge/Collector entries deleted by the expiry timer

    def quiet(self, topics: list[str]) -> bool:
        """Nothing in flight and every record produced to `topics` here was consumed here."""
        return self.in_flight == 0 and all(
            self.consumed.get(t, 0) >= self.produced.get(t, 0) for t in topics
        )


class DeliveryAcker:
    """Acks records once their deliveries completed, in the order they were added."""

    def __init__(
        self, counters: Counters, refused: Callable[[BaseException], bool] | None = None
    ) -> None:
        """`refused(exc)`: whether a failed delivery was an access refusal it dealt with
        (refusals.py ends the worker); any other failure is logged here."""
        self._counters = counters
        self._refused = refused
        self._queue: asyncio.Queue[tuple[list[Any], list[Awaitable[Any]]]] | None = None
        self._task: asyncio.Task[None] | None = None

    def add(self, records: list[Any], sent: list[Awaitable[Any]]) -> None:
        """Ack `records` once every delivery in `sent` completed (counted in flight till then)."""
        if self._queue is None:
            self._queue = asyncio.Queue()
            self._task = asyncio.ensure_future(self._run(self._queue))
        self._queue.put_nowait((records, sent))

    async def stop(self) -> None:
        """Cancel the acker (after the app stopped consuming); what it held stays unacked."""
        task, self._task, self._queue = self._task, None, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    async def _run(self, queue: asyncio.Queue[tuple[list[Any], list[Awaitable[Any]]]]) -> None:
        counters = self._counters
        while True:
            records, sent = await queue.get()
            try:
                for delivery in sent:
                    if isinstance(delivery, asyncio.Future) and not delivery.done():
                        await delivered(delivery)
                    await delivery
            except Exception as exc:
                # not acked: Faust will not commit past it, so it is redelivered after a restart
                counters.errors += 1
                if self._refused is None or not self._refused(exc):
                    logger.exception("delivery failed; the input stays unacked for redelivery")
            else:
                ack_all(records)
            finally:
                counters.in_flight -= 1


async def delivered(delivery: asyncio.Future[Any]) -> None:
    """Wait for `delivery`, warning while the broker keeps it waiting (the inputs stay unacked).

    A timer warns, not a `wait_for(shield(...))`: that costs four loop callbacks per delivery,
    on every hop; a timer that is cancelled unfired costs none.
    """
    loop = asyncio.get_running_loop()
    timers: list[asyncio.TimerHandle] = []

    def warn() -> None:
        logger.warning(
            "a record has waited %.0f s for the broker to acknowledge it; the inputs that "
            "caused it stay unacked (and uncommitted) until it is",
            len(timers) * SLOW_DELIVERY_SECONDS,
        )
        timers.append(loop.call_later(SLOW_DELIVERY_SECONDS, warn))

    timers.append(loop.call_later(SLOW_DELIVERY_SECONDS, warn))
    try:
        await delivery
    finally:
        timers[-1].cancel()


_EVENT_ACK = FaustEvent.ack
_MESSAGE_ACK = Message.ack
_MESSAGE_DECREF = Message.decref


def ack_all(records: list[Any]) -> None:
    """`record.ack()` for each record, under one hold of Faust's ack lock.

    For Faust's own `Event.ack` -> `Message.ack` -> `Message.decref` (upstream.py fingerprints
    them) their steps are taken here, inline: each took the lock again, three calls per record.
    Anything else is acked by its own `ack()`."""
    with ack_lock:
        for record in records:
            message = record.message
            kind = type(message)
            if (
                type(record).ack is not _EVENT_ACK
                or kind.ack is not _MESSAGE_ACK
                or kind.decref is not _MESSAGE_DECREF
            ):
                record.ack()
            elif not message.acked:
                refcount = message.refcount = max(message.refcount - 1, 0)
                if not refcount:
                    message.on_final_ack(record.app.consumer)
