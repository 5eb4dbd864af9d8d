"""A Faust stream an agent can read in batches: every event queued for it, at once.

Faust's stream iterator yields one event per turn of the event loop (it awaits `sleep(0)` before
each event), so an agent's cost per record includes a full loop turn, and aiokafka's sender,
woken in every turn, ships produce requests of a record or two. `LeanStream.batches()` takes
whatever the consumer has queued for the agent (up to `max_events`) in one go, with the same
per-event bookkeeping as Faust's iterator: stale events (from before a rebalance, or while flow
is stopped) are acked and skipped, and acking topics track each message as unacked until the
agent acks it. The per-event stream sensor hooks are not called (the app has no such sensor).
The agent stays a Faust agent on its topic; only the iteration is batched. Unlike Faust's
iterator (a debug line per event), skipped stale events are counted and logged at INFO, at most
once a second per stream (stale_log.py).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from typing import Any

import faust
from faust.types import EventT

from .stale_log import StaleLog

__all__ = ["LeanStream"]

logger = logging.getLogger("streamgraph.kafka")


class LeanStream(faust.Stream):
    """`faust.Stream` plus `batches()`; events from `batches()` are never acked by the stream."""

    async def batches(self, max_events: int) -> AsyncIterator[list[EventT]]:
        """Lists of the events queued for this stream, waiting only when none is queued."""
        if self._processors or self.join_strategy:
            # a stream with processors keeps Faust's per-event iteration
            async for event in self.noack().events():
                yield [event]
            return
        self._finalized = True
        started_by_aiter = await self.maybe_start()
        channel: Any = self.channel
        queue = channel.queue
        slow_get = channel.__anext__
        app = self.app
        flow_control = app.flow_control
        unacked_add = app.consumer.unacked.add
        acking_topics = app.topics.acking_topics
        on_message_in = self._on_message_in
        event_class = app.conf.Event
        stale = StaleLog(", ".join(sorted(getattr(channel, "topics", ()))) or str(channel))
        try:
            while not self.should_stop:
                batch: list[EventT] = []
                skipped = 0
                if queue.empty():
                    try:
                        value: Any = await slow_get()
                    except StopAsyncIteration:
                        return  # the channel ended (the stream stops): end the iteration
                else:
                    value = queue.get_nowait()
                while True:
                    # (the app's event class first: an isinstance on the ABC costs more)
                    if type(value) is event_class or isinstance(value, EventT):
                        event = value
                        message = event.message
                        if (
                            not flow_control.is_active()
                            or message.generation_id != app.consumer_generation_id
                        ):
                            # as Faust's iterator: a stale event is acked, not processed
                            event.ack()
                            skipped += 1
                        else:
                            if message.topic in acking_topics and not message.tracked:
                                message.tracked = True
                                unacked_add(message)
                                on_message_in(message.tp, message.offset, message)
                            batch.append(event)
                    if len(batch) >= max_events or queue.empty():
                        break
                    value = queue.get_nowait()
                if skipped:
                    stale.add(skipped)
                if batch:
                    self.events_total += len(batch)
                    yield batch
        finally:
            stale.close()
            self._channel_stop_iteration(channel)
            if started_by_aiter:
                await self.stop()
                self.service_reset()
