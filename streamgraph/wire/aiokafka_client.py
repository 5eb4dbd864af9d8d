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

from ..connection.kafka_security import KafkaSecurity
from .producer import TrackingProducer
from .reply_client import Deliver, Delivery, Headers, Record, not_taken, too_large

logger = logging.getLogger("streamgraph.gateway")

_TOO_LARGE = (MessageSizeTooLargeError, RecordTooLargeError, RecordListTooLargeError)
FETCH_WAIT_MS = 1000  # how long one getmany waits on an idle reply topic (not on the path)


class AiokafkaClient:
    """A `TrackingProducer` (see wire/producer.py) and a group-less consumer of the reply topic."""

    def __init__(
        self,
        brokers: str,
        linger_ms: int,
        max_request_bytes: int,
        send_timeout: float,
        security: KafkaSecurity,
    ) -> None:
        self.brokers = brokers
        self.security = security
        self.linger_ms = linger_ms
        self.max_request_bytes = max_request_bytes
        self.send_timeout_ms = max(int(send_timeout * 1000), 1000)
        self._producer: TrackingProducer | None = None
        self._consumer: AIOKafkaConsumer | None = None
        self._reader: asyncio.Task[None] | None = None
        self._partition: TopicPartition | None = None  # set once positioned at its end

    async def start(self, reply_topic: str, deliver: Deliver) -> None:
        self._producer = TrackingProducer(
            bootstrap_servers=self.brokers,
            linger_ms=self.linger_ms,
            max_request_size=self.max_request_bytes,
            request_timeout_ms=self.send_timeout_ms,
            **self.security.aiokafka_args(),
        )
        await self._producer.start()
        # no consumer group: the reply topic is ours alone, so no rebalance can take it away.
        # read_committed: an exactly_once worker's answers count only once its transaction
        # committed (an aborted one is redone); records written outside transactions are read
        # as soon as before, so at_least_once workers see no difference (librdkafka's default)
        self._consumer = AIOKafkaConsumer(
            bootstrap_servers=self.brokers,
            isolation_level="read_committed",
            **self.security.aiokafka_args(),
        )
        await self._consumer.start()
        partition = TopicPartition(reply_topic, 0)
        self._consumer.assign([partition])
        await self._consumer.seek_to_end(partition)
        self._partition = partition
        self._reader = asyncio.create_task(self._read(self._consumer, deliver))

    async def stop(self) -> None:
        if self._reader is not None:
            self._reader.cancel()
            await asyncio.gather(self._reader, return_exceptions=True)
            self._reader = None
        for client in (self._consumer, self._producer):
            if client is not None:
                await _stop(client)
        self._producer = self._consumer = None
        self._partition = None

    async def send(
        self, topic: str, key: bytes, value: bytes, headers: Headers, delivery: Delivery
    ) -> None:
        if self._producer is None:
            raise not_taken("the producer is stopped")
        try:
            # (encode's list as it is: a copy per request only for another sequence)
            listed = headers if type(headers) is list else list(headers)
            future = await self._producer.send(topic, value, key=key, headers=listed)
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
        return topic in await self.topics()

    async def topics(self) -> dict[str, bool]:
        if self._producer is None:
            raise not_taken("the producer is stopped")
        cluster = await self._producer.client.fetch_all_metadata()
        led: dict[str, bool] = {}
        for topic in cluster.topics():
            partitions = cluster.partitions_for_topic(topic) or set()
            leaders = [cluster.leader_for_partition(TopicPartition(topic, p)) for p in partitions]
            # None: unknown, -1: no leader (broker ids start at 0)
            led[topic] = bool(leaders) and all(
                leader is not None and leader >= 0 for leader in leaders
            )
        return led

    def reading(self) -> bool:
        consumer, reader, partition = self._consumer, self._reader, self._partition
        return (
            consumer is not None
            and partition is not None
            and reader is not None
            and not reader.done()
            and partition in consumer.assignment()
        )

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


async def _stop(client: AIOKafkaConsumer | TrackingProducer) -> None:
    """Stop `client`, even with the broker gone: the consumer's fetcher then cancels a pending
    fetch and awaits it (aiokafka 0.14 `Fetcher.close`), which raises CancelledError in the
    caller although nobody cancelled it."""
    try:
        await client.stop()
    except asyncio.CancelledError:
        task = asyncio.current_task()
        if task is not None and task.cancelling():
            raise  # we are being cancelled: let it through
        logger.warning("stopping %s: a fetch in flight was cancelled", type(client).__name__)
    except KafkaError as exc:
        logger.warning("stopping %s: %r", type(client).__name__, exc)


__all__ = ["AiokafkaClient"]
