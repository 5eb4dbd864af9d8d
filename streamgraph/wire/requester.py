"""Request/reply over Kafka for synchronous callers: one producer, one reply topic per instance.

Each request becomes an event on the function's entry topic carrying this instance's reply
topic and a fresh correlation id; the reply (or, for streaming steps, the chunk records up to
the end marker) is matched by that id. Several gateway instances each read only their own
reply topic, so they never see each other's answers.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.errors import (
    KafkaError,
    MessageSizeTooLargeError,
    RecordListTooLargeError,
    RecordTooLargeError,
)

from ..core.event import Event
from ..errors import GatewayTimeoutError, PayloadTooLargeError, ServiceUnavailableError
from ..serving.oip_binary import HEADER_LENGTH
from .codec import (
    H_CHUNK,
    H_CORRELATION,
    H_END,
    H_STATUS,
    KafkaReply,
    decode,
    encode,
)
from .producer import TrackingProducer
from .reply_topics import create_topic, delete_reply_topic

logger = logging.getLogger("streamgraph.gateway")


@dataclass
class Answer:
    """A reply: status and body, or a stream of chunk bodies."""

    status: int
    body: Any = None
    chunks: AsyncIterator[Any] | None = None
    # HTTP headers of the answer (the binary extension's JSON length, with a bytes body)
    headers: dict[str, str] = field(default_factory=dict)


MISSING_TOPIC_RECHECK = 1.0  # seconds

_TOO_LARGE = (MessageSizeTooLargeError, RecordTooLargeError, RecordListTooLargeError)

_EMPTY = object()  # a stream that ended before its first chunk

# reply-record headers that become HTTP headers of a bytes answer: event name -> HTTP name
_ANSWER_HEADERS = {HEADER_LENGTH: "Inference-Header-Content-Length"}


class _Waiter:
    def __init__(self) -> None:
        self.first: asyncio.Future[tuple[int, Any, bool]] = (
            asyncio.get_running_loop().create_future()
        )
        self.queue: asyncio.Queue[tuple[int, Any, bool]] | None = None
        self.headers: dict[str, str] = {}


class KafkaRequester:
    """Sends events to an entry topic and waits for their replies on a private reply topic."""

    def __init__(
        self,
        brokers: str,
        entry_topic: str,
        reply_topic: str | None = None,
        linger_ms: int = 0,
        max_request_bytes: int = 1024 * 1024,
    ) -> None:
        self.brokers = brokers
        self.linger_ms = linger_ms
        # the producer's own limit is no lower than the gateway's body limit (plus headers), so
        # the broker's message.max.bytes decides, and a refusal comes back as a 413 at once
        self.max_request_bytes = max(max_request_bytes + 64 * 1024, 1024 * 1024)
        self.entry_topic = entry_topic
        self.reply_topic = reply_topic or f"{entry_topic}.replies.{uuid.uuid4().hex[:12]}"
        self._waiters: dict[str, _Waiter] = {}
        # correlation ids: unique per instance (its reply topic is its own), cheaper than uuid4
        self._id_prefix = uuid.uuid4().hex[:8]
        self._ids = itertools.count(1)
        self._producer: AIOKafkaProducer | None = None
        self._consumer: AIOKafkaConsumer | None = None
        self._reader: asyncio.Task[None] | None = None
        self.late_replies = 0
        self.timeouts = 0
        self.ready = False
        # whether the entry topic exists (a worker creates it); a missing one is re-checked
        # at most once per MISSING_TOPIC_RECHECK seconds
        self._entry_exists = False
        self._entry_checked_at = -MISSING_TOPIC_RECHECK
        self._entry_check = asyncio.Lock()

    async def start(self) -> None:
        await create_topic(self.brokers, self.reply_topic)
        self._producer = TrackingProducer(
            bootstrap_servers=self.brokers,
            linger_ms=self.linger_ms,
            max_request_size=self.max_request_bytes,
        )
        await self._producer.start()
        # no consumer group: the reply topic is ours alone, so no rebalance can take it away
        self._consumer = AIOKafkaConsumer(bootstrap_servers=self.brokers)
        await self._consumer.start()
        partition = TopicPartition(self.reply_topic, 0)
        self._consumer.assign([partition])
        await self._consumer.seek_to_end(partition)
        self._reader = asyncio.create_task(self._read())
        self.ready = True

    async def stop(self) -> None:
        self.ready = False
        if self._reader is not None:
            self._reader.cancel()
            await asyncio.gather(self._reader, return_exceptions=True)
        for client in (self._consumer, self._producer):
            if client is not None:
                await client.stop()
        if self._producer is not None:
            await delete_reply_topic(self.brokers, self.reply_topic)
            self._producer = self._consumer = None
        for waiter in self._waiters.values():
            if not waiter.first.done():
                waiter.first.set_exception(ServiceUnavailableError("the gateway is stopping"))

    async def request(self, event: Event, timeout: float) -> Answer:
        """Send `event`; its answer, or a stream of chunks; 504 after `timeout` seconds."""
        if self._producer is None:
            raise ServiceUnavailableError("the gateway is not connected to Kafka yet")
        if not self._entry_exists:
            await self._check_entry_topic()
        correlation = f"{self._id_prefix}{next(self._ids):x}"
        event.reply = KafkaReply(self.reply_topic, correlation)
        waiter = self._waiters[correlation] = _Waiter()
        key, value, headers = encode(event)
        # asyncio.timeout, not wait_for: no extra task per request on the hot path
        try:
            # a record the broker refuses (too large, no topic) fails this request at once
            async with asyncio.timeout(timeout):
                delivery = await self._producer.send(
                    self.entry_topic, value, key=key, headers=headers
                )
                await delivery
        except _TOO_LARGE as exc:
            self._waiters.pop(correlation, None)
            raise PayloadTooLargeError(
                f"the request is too large for the Kafka broker ({len(value)} bytes): {exc!r}"
            ) from exc
        except (KafkaError, TimeoutError) as exc:
            self._waiters.pop(correlation, None)
            raise ServiceUnavailableError(f"Kafka did not take the request: {exc!r}") from exc
        except BaseException:
            self._waiters.pop(correlation, None)
            raise
        try:
            async with asyncio.timeout(timeout):
                status, body, streaming = await waiter.first
        except TimeoutError:
            self._waiters.pop(correlation, None)
            self.timeouts += 1
            raise GatewayTimeoutError(
                f"no reply within {timeout:g} s for event {event.id}"
            ) from None
        if not streaming:
            self._waiters.pop(correlation, None)
            return Answer(status, body, headers=waiter.headers)
        return Answer(200, chunks=self._chunks(correlation, waiter, body, timeout))

    async def _check_entry_topic(self) -> None:
        """503 at once when the entry topic is missing, rather than a send that waits for it.

        (A full metadata fetch never creates a topic, even on brokers that auto-create.)
        """
        assert self._producer is not None
        async with self._entry_check:  # concurrent first requests share one metadata fetch
            now = asyncio.get_running_loop().time()
            if not self._entry_exists and now - self._entry_checked_at >= MISSING_TOPIC_RECHECK:
                cluster = await self._producer.client.fetch_all_metadata()
                self._entry_exists = self.entry_topic in cluster.topics()
                self._entry_checked_at = now
        if not self._entry_exists:
            raise ServiceUnavailableError(
                f"topic {self.entry_topic} does not exist on {self.brokers}: start a worker "
                "of this function (it creates its topics)"
            )

    async def _chunks(
        self, correlation: str, waiter: _Waiter, first: Any, timeout: float
    ) -> AsyncIterator[Any]:
        try:
            if first is not _EMPTY:
                yield first
            assert waiter.queue is not None
            while True:
                status, value, end = await asyncio.wait_for(waiter.queue.get(), timeout)
                if status >= 300:
                    raise RuntimeError(f"failed ({status}): {value}")
                if end:
                    return
                yield value
        finally:
            self._waiters.pop(correlation, None)

    async def _read(self) -> None:
        assert self._consumer is not None
        async for record in self._consumer:
            headers = dict(record.headers or ())
            correlation = headers.get(H_CORRELATION, b"").decode()
            waiter = self._waiters.get(correlation)
            if waiter is None:
                self.late_replies += 1  # after a timeout: dropped and counted
                continue
            status = int(headers.get(H_STATUS, b"200"))
            try:
                event = decode(record.key, record.value, record.headers)
                body = event.body
            except Exception as exc:
                body, status = {"error": f"bad reply record: {exc}"}, 500
            else:
                if isinstance(body, bytes) and event.headers:
                    waiter.headers = _answer_headers(event.headers)
            end = H_END in headers
            if waiter.queue is None and (H_CHUNK in headers or end) and status < 300:
                waiter.queue = asyncio.Queue()
                if end:  # an empty stream
                    waiter.queue.put_nowait((200, None, True))
                    if not waiter.first.done():
                        waiter.first.set_result((200, _EMPTY, True))
                    continue
                if not waiter.first.done():
                    waiter.first.set_result((status, body, True))
                continue
            if waiter.queue is not None:
                waiter.queue.put_nowait((status, body, end))
            elif not waiter.first.done():
                waiter.first.set_result((status, body, False))


def _answer_headers(headers: dict[str, str]) -> dict[str, str]:
    found = {k.lower(): v for k, v in headers.items()}
    return {http: found[name] for name, http in _ANSWER_HEADERS.items() if name in found}
