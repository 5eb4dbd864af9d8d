"""`ReplyClient` on confluent-kafka (librdkafka): the protocol work runs in C threads.

Not `confluent_kafka.aio`: its `AIOProducer.produce` refuses headers (every event carries
`sg-` headers), and `AIOConsumer` hands each call to a thread pool, where `consume(n, t)`
returns only when n records came or t passed, so a lone reply would wait out t. Instead:

- the producer's `produce` is called on the event loop (it only queues the record; librdkafka
  is thread-safe). Delivery reports come for failures only (`delivery.report.only.error`),
  served by a `poll(0)` on the loop every DELIVERY_POLL seconds: a success costs no Python at
  all and wakes no thread. The record's delivery timeout is a little shorter than the
  request's, so a record the broker never took fails as a 503 before the request's 504.
- one request in flight per broker connection (`max.in.flight`): records queued meanwhile go in
  the next produce request together. Under load that batches as aiokafka does, with no linger
  (which would delay lone requests), and the broker, sharing the machine, gets fewer requests.
- a thread reads the reply topic: `poll` blocks until the first record, `consume(n, 0)` takes
  whatever else is already fetched, and the batch goes to the loop in one call, where the
  records are read (the thread holds the GIL as little as it can).
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
import uuid
from typing import Any, cast

from confluent_kafka import Consumer, KafkaError, KafkaException, Message, Producer, TopicPartition

from ..connection.kafka_security import KafkaSecurity
from .reply_client import Deliver, Delivery, Headers, Record, not_taken, too_large

logger = logging.getLogger("streamgraph.gateway")

POLL_WAIT = 0.2  # seconds the reader blocks in librdkafka before it looks at the stop flag
DELIVERY_POLL = 0.05  # seconds between services of the producer's (failure) delivery reports
MAX_BATCH = 1000  # reply records handed to the loop at once
START_TIMEOUT = 30.0  # seconds to find the reply topic's end while it is being created
METADATA_TIMEOUT = 10.0  # seconds a metadata fetch (topics, readiness) may take
DELIVERY_SHARE = 0.9  # of the request timeout, for the broker to take the record


class ConfluentClient:
    """A librdkafka producer and a group-less librdkafka consumer of the reply topic."""

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
        common = {"bootstrap.servers": brokers, "socket.nagle.disable": True}
        self._producer_config: dict[str, Any] = {
            **common,
            "linger.ms": linger_ms,
            # aiokafka's default, kept so both clients are compared like for like
            "acks": 1,
            # no lower than the gateway's body limit: the broker decides, and says so at once
            "message.max.bytes": max_request_bytes,
            "message.timeout.ms": max(int(send_timeout * 1000 * DELIVERY_SHARE), 1000),
            "delivery.report.only.error": True,
            "max.in.flight": 1,
        }
        self._consumer_config: dict[str, Any] = {
            **common,
            # required by librdkafka, never joined: the partition is assigned, not subscribed
            "group.id": f"sg-reply-{uuid.uuid4().hex[:12]}",
            "enable.auto.commit": False,
            "enable.auto.offset.store": False,
            # explicit, as the aiokafka client: exactly_once answers only once committed
            "isolation.level": "read_committed",
            "allow.auto.create.topics": False,
            "enable.partition.eof": False,  # so every error the reader sees is worth a warning
        }
        self._producer: Producer | None = None
        self._consumer: Consumer | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping = threading.Event()
        self._reader: threading.Thread | None = None
        self._poller: asyncio.TimerHandle | None = None
        self._assigned = False  # the reply partition is assigned at its end

    async def start(self, reply_topic: str, deliver: Deliver) -> None:
        self._loop = loop = asyncio.get_running_loop()
        self._stopping.clear()
        self._producer = Producer({**self._producer_config, **self.security.confluent_config()})
        self._consumer = Consumer({**self._consumer_config, **self.security.confluent_config()})
        await loop.run_in_executor(None, _assign_at_end, self._consumer, reply_topic)
        self._assigned = True
        self._reader = threading.Thread(
            target=self._read,
            args=(self._consumer, loop, deliver),
            name="sg-kafka-replies",
            daemon=True,  # never keeps a dying process alive; stop() joins it
        )
        self._reader.start()
        self._poller = loop.call_later(DELIVERY_POLL, self._serve_deliveries)

    async def stop(self) -> None:
        loop = asyncio.get_running_loop()
        producer, consumer = self._producer, self._consumer
        self._producer = None
        self._assigned = False
        if self._poller is not None:
            self._poller.cancel()
            self._poller = None
        if producer is not None:
            # flush serves the last delivery reports itself (in the executor's thread)
            await loop.run_in_executor(None, producer.flush, 10.0)
        self._stopping.set()
        if self._reader is not None:
            await loop.run_in_executor(None, self._reader.join)
            self._reader = None
        if consumer is not None:
            await loop.run_in_executor(None, consumer.close)
        self._consumer = None

    async def send(
        self, topic: str, key: bytes, value: bytes, headers: Headers, delivery: Delivery
    ) -> None:
        producer, loop = self._producer, self._loop
        if producer is None or loop is None:
            raise not_taken("the producer is stopped")
        size = len(value)

        # failures only; on the loop (poll) or, while stopping, in flush's thread
        def report(err: KafkaError | None, msg: Message) -> None:
            exc = too_large(size, err) if err and _is_too_large(err) else not_taken(err)
            try:
                loop.call_soon_threadsafe(delivery.failed, exc)
            except RuntimeError:  # the loop closed: nobody waits any more
                pass

        # no success report will come: a record that fails does so before the deadline
        delivery.delivered = True
        try:
            producer.produce(topic, value, key, headers=cast(Any, headers), on_delivery=report)
        except KafkaException as exc:
            err = exc.args[0] if exc.args else exc
            if isinstance(err, KafkaError) and _is_too_large(err):
                raise too_large(size, err) from exc
            raise not_taken(err) from exc
        except BufferError as exc:  # librdkafka's queue is full: the broker is not keeping up
            raise not_taken(exc) from exc

    async def topic_exists(self, topic: str) -> bool:
        return topic in await self.topics()

    async def topics(self) -> dict[str, bool]:
        producer = self._producer
        if producer is None:
            raise not_taken("the producer is stopped")
        loop = asyncio.get_running_loop()
        # list_topics() with no topic: a full metadata request, which never auto-creates one
        metadata = await loop.run_in_executor(
            None, lambda: producer.list_topics(timeout=METADATA_TIMEOUT)
        )
        return {
            name: topic.error is None
            and bool(topic.partitions)
            and all(p.leader >= 0 for p in topic.partitions.values())
            for name, topic in metadata.topics.items()
        }

    def reading(self) -> bool:
        reader = self._reader
        return self._assigned and reader is not None and reader.is_alive()

    def _serve_deliveries(self) -> None:
        producer, loop = self._producer, self._loop
        if producer is None or loop is None:
            return
        producer.poll(0)
        self._poller = loop.call_later(DELIVERY_POLL, self._serve_deliveries)

    # -- the reader's thread ----------------------------------------------------------------------

    def _read(self, consumer: Consumer, loop: asyncio.AbstractEventLoop, deliver: Deliver) -> None:
        def hand_over(messages: list[Message]) -> None:  # on the loop
            records: list[Record] = []
            for m in messages:
                error = m.error()
                if error is None:
                    stamp = m.timestamp()[1]  # (type, ms); -1 when the record has none
                    records.append(
                        (m.key(), m.value(), cast(Any, m.headers()), stamp if stamp >= 0 else None)
                    )
                else:  # end-of-partition events are off (librdkafka's enable.partition.eof)
                    logger.warning("reading replies: %s", error)
            if records:
                deliver(records)

        while not self._stopping.is_set():
            first = consumer.poll(POLL_WAIT)
            if first is None:
                continue
            messages = [first, *consumer.consume(MAX_BATCH - 1, 0)]
            try:
                loop.call_soon_threadsafe(hand_over, messages)
            except RuntimeError:  # the loop closed under us: we are stopping
                return


def _is_too_large(err: KafkaError) -> bool:
    return bool(err.code() == KafkaError.MSG_SIZE_TOO_LARGE)


def _assign_at_end(consumer: Consumer, topic: str) -> None:
    """Read `topic` from its current end, as known now (not later, when a first reply may
    already be there). A topic created a moment ago may have no leader yet: retry."""
    partition = TopicPartition(topic, 0)
    deadline = time.monotonic() + START_TIMEOUT
    while True:
        try:
            _, high = consumer.get_watermark_offsets(partition, timeout=5.0)
            break
        except KafkaException:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)
    consumer.assign([TopicPartition(topic, 0, high)])


__all__ = ["ConfluentClient"]
