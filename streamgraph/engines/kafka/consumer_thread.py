"""Faust's consumer thread, with fewer loop turns for each call the main loop makes into it.

Faust's aiokafka consumer runs in its own thread; the main loop asks it for records through
mode's method queue, once per fetch. mode's queue workers first wait for a "queue ready" flag
through `Service.wait` (three tasks and an `asyncio.wait`, about ten loop callbacks, even though
the flag stays set once set) and only then take the call from the queue. Here they just take it
from the queue: the same calls in the same order, and a thread loop that turns less on each hop.

Overrides of mode's internals: listed with fingerprints in upstream.py.
"""

from __future__ import annotations

from typing import Any

from faust.transport.drivers import aiokafka as faust_aiokafka
from mode import Service
from mode.threads import MethodQueue, MethodQueueWorker

from .refusals import WATCH_SECONDS, fail_worker, pending_refusal

__all__ = ["LeanConsumerThread"]


class LeanMethodQueueWorker(MethodQueueWorker):
    """mode's method-queue worker, waiting on the queue alone."""

    @Service.task
    async def _method_queue_do_work(self) -> None:
        method_queue = self.method_queue
        get = method_queue._queue.get
        process_enqueued = method_queue._process_enqueued
        # a stop cancels this task (mode cancels a service's tasks), then flushes the queue
        while not self.should_stop and not method_queue.should_stop:
            await process_enqueued(await get())


class LeanMethodQueue(MethodQueue):
    Worker = LeanMethodQueueWorker


class LeanConsumerThread(faust_aiokafka.AIOKafkaConsumerThread):
    """Faust's aiokafka consumer thread whose method queue is `LeanMethodQueue`, and which
    ends the worker when its group coordinator holds an access refusal (refusals.py)."""

    @Service.task
    async def _watch_refusals(self) -> None:
        """aiokafka keeps a refused group for its own getmany, which Faust never calls: the
        coordinator would wait for it to be taken, forever and silently."""
        app: Any = self.app
        while not self.should_stop:
            refused = pending_refusal(self._consumer, app.brokers_text, app.security, app.conf.id)
            if refused is not None:
                fail_worker(app, refused)
                return
            await self.sleep(WATCH_SECONDS)

    @property
    def method_queue(self) -> MethodQueue:
        if self._method_queue is None:
            self._method_queue = LeanMethodQueue(loop=self.thread_loop, beacon=self.beacon)
        return self._method_queue

    def _create_worker_consumer(self, transport: Any) -> Any:
        # exactly_once (transactions.py): Faust reads read_committed when `in_transaction`, its
        # switch for its own transactions, which streamgraph leaves off
        consumer: Any = self.consumer
        if getattr(self.app, "eos", None) is None:
            return super()._create_worker_consumer(transport)
        saved, consumer.in_transaction = consumer.in_transaction, True
        try:
            return super()._create_worker_consumer(transport)
        finally:
            consumer.in_transaction = saved
