"""`ReplyClient` on aiokafka: everything on the event loop, in Python."""

from __future__ import annotations

import asyncio
import logging

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import (
    KafkaError,
    MessageSizeTooLargeError,
    RecordListTooLargeError,
    RecordTooLargeError,
)

from .producer import TrackingProducer
from .reply_client import Deliver, Delivery, Headers, Record, not_taken, too_large

logger = logging.getLogger("streamgraph.gateway")

_TOO_LARGE = (MessageSizeTooLargeError, RecordTooLargeError, RecordListTooLargeError)
FETCH_WAIT_MS = 1000  # how long one getmany waits on an idle reply topic (not on the path)


class AiokafkaClient:
    """A `TrackingProducer` (see wire/producer.py) and a group-less consumer of the reply topic."""

    def __init__(
        self, brokers: str, linger_ms: int, max_request_bytes: int, send_timeout: float
    ) -> None:
        self.brokers = brokers
        self.linger_ms = linger_ms
        self.max_request_bytes = max_request_bytes
        self.send_timeout_ms = max(int(send_timeout * 1000), 1000)
        self._producer: TrackingProducer | None = None
        self._consumer: AIOKafkaConsumer | None = None
        self._reader: asyncio.Task[None] | None = None

    async def start(self, reply_topic: str, deliver: Deliver) -> None:
        self._producer = TrackingProducer(
            bootstrap_servers=self.brokers,
            linger_ms=self.linger_ms,
            max_request_size=self.max_request_bytes,
            request_timeout_ms=self.send_timeout_ms,
        )
        await self._producer.start()
        # no consumer group: the reply topic is ours alone, so no rebalance can take it away
        self._consumer = AIOKafkaConsumer(bootstrap_servers=self.brokers)
        await self._consumer.start()
        partition = TopicPartition(reply_topic, 0)
        self._consumer.assign([partition])
        await self._consumer.seek_to_end(partition)
        self._reader = asyncio.create_task(self._read(self._consumer, deliver))

    async def stop(self) -> None:
        if self._reader is not None:
            self._reader.cancel()
            await asyncio.gather(self._reader, return_exceptions=True)
            self._reader = None
        for client in (self._consumer, self._producer):
            if client is not None:
                await client.stop()
        self._producer = self._consumer = None

    async def send(
        self, topic: str, key: bytes, value: bytes, headers: Headers, delivery: Delivery
    ) -> None:
        if self._producer is None:
            raise not_taken("the producer is stopped")
        try:
            future = await self._producer.send(topic, value, key=key, headers=list(headers))
        except _TOO_LARGE as exc:
            raise too_large(len(value), exc) from exc
        except KafkaError as exc:
            raise not_taken(exc) from exc

        def done(sent: asyncio.Future[object]) -> None:
            exc = None if sent.cancelled() else sent.exception()
            if sent.cancelled() or exc is not None:
                error = exc if exc is not None else "cancelled"
                large = isinstance(exc, _TOO_LARGE)
                delivery.failed(too_large(len(value), error) if large else not_taken(error))
            else:
                delivery.delivered = True

        future.add_done_callback(done)

    async def topic_exists(self, topic: str) -> bool:
        assert self._producer is not None
        cluster = await self._producer.client.fetch_all_metadata()
        return topic in cluster.topics()

    @staticmethod
    async def _read(consumer: AIOKafkaConsumer, deliver: Deliver) -> None:
        while True:  # getmany: every record already fetched in one call, not one per __anext__
            batches = await consumer.getmany(timeout_ms=FETCH_WAIT_MS)
            records: list[Record] = [
                (r.key, r.value, r.headers, r.timestamp)
                for batch in batches.values()
                for r in batch
            ]
            if records:
                try:
                    deliver(records)
                except Exception:  # one bad batch must not stop the reader
                    logger.exception("handling reply records failed")


__all__ = ["AiokafkaClient"]
