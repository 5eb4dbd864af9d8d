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
from collections.abc import AsyncIterator, Awaitable
from dataclasses import dataclass, field
from typing import Any

from ..connection.kafka_security import KafkaSecurity
from ..core import tracing
from ..core.event import Event
from ..errors import GatewayTimeoutError, KafkaAccessError, ServiceUnavailableError
from ..serving.oip_binary import HEADER_LENGTH
from .codec import (
    H_CHUNK,
    H_CORRELATION,
    H_END,
    H_ID,
    H_STATUS,
    H_TRACEPARENT,
    KafkaReply,
    decode,
    encode,
)
from .reach import refusals_raised
from .reply_client import ClientName, Record, ReplyClient
from .reply_client_factory import make_client
from .reply_topics import create_topic, delete_reply_topic

logger = logging.getLogger("streamgraph.gateway")

# the Kafka client a requester uses unless told otherwise (bench/gateway.py --clients compares):
# aiokafka costs less CPU per request in all, and the gateway alone goes further on it
DEFAULT_CLIENT: ClientName = "aiokafka"


@dataclass
class Answer:
    """A reply: status and body, or a stream of chunk bodies."""

    status: int
    body: Any = None
    chunks: AsyncIterator[Any] | None = None
    # HTTP headers of the answer (the binary extension's JSON length, with a bytes body)
    headers: dict[str, str] = field(default_factory=dict)


MISSING_TOPIC_RECHECK = 1.0  # seconds
# readiness (`ready`, `waiting_for`): re-checked by one task, off the request path
READY_RECHECK = 2.0  # seconds between checks while ready (a lost topic or broker shows here)
NOT_READY_RECHECK = 0.5  # seconds between checks while not ready
CONNECT_RETRY_MAX = 5.0  # seconds between connection attempts, at most (doubling from 0.25)
# seconds between attempts once the broker refused the login, TLS handshake or an ACL: no retry
# mends a password, but the broker's side can be fixed (an ACL granted) without a restart
REFUSED_RETRY = 15.0
CONNECT_TIMEOUT = 30.0  # seconds one connection attempt may take
FIRST_ATTEMPT_TIMEOUT = 5.0  # seconds start() waits for the first attempt when keep_trying
CHECK_TIMEOUT = 10.0  # seconds a readiness check (one metadata fetch) may take
STOP_TIMEOUT = 10.0  # seconds stopping the client, and deleting the reply topic, may each take
# one task expires every waiter past its deadline, at this period: no timer per request
SWEEP_INTERVAL = 0.05  # seconds

_EMPTY = object()  # a stream that ended before its first chunk

# reply-record headers that become HTTP headers of a bytes answer: event name -> HTTP name
_ANSWER_HEADERS = {HEADER_LENGTH: "Inference-Header-Content-Length"}


class _Waiter:
    """One request in flight: its first answer (or error), then its chunks when streaming."""

    __slots__ = ("deadline", "delivered", "event_id", "first", "headers", "queue", "timeout")

    def __init__(self, first: asyncio.Future[Any], event_id: str, timeout: float) -> None:
        self.first = first
        self.event_id = event_id
        self.timeout = timeout
        self.deadline = first.get_loop().time() + timeout
        self.delivered = False  # set by the client, from any thread, when the broker took it
        self.queue: asyncio.Queue[tuple[int, Any, bool]] | None = None
        self.headers: dict[str, str] = {}

    def failed(self, exc: Exception) -> None:
        if not self.first.done():
            self.first.set_exception(exc)


def reply_topic_prefix(entry_topic: str) -> str:
    """What the private reply topics of the callers of `entry_topic` start with (a uuid each):
    gateways and `streamgraph send` create, read and delete them."""
    return f"{entry_topic}.replies."


class KafkaRequester:
    """Sends events to an entry topic and waits for their replies on a private reply topic."""

    def __init__(
        self,
        brokers: str,
        entry_topic: str,
        reply_topic: str | None = None,
        linger_ms: int = 0,
        max_request_bytes: int = 1024 * 1024,
        client: ClientName = DEFAULT_CLIENT,
        send_timeout: float = 30.0,
        keep_trying: bool = False,
        *,
        security: KafkaSecurity,
    ) -> None:
        """`keep_trying`: `start()` never fails for want of a broker; the requester comes up not
        ready and connects in the background once the broker answers (the gateway). Without it
        `start()` connects at once or raises (`streamgraph send`, the test harness)."""
        self.brokers = brokers
        self.security = security
        self.keep_trying = keep_trying
        self.linger_ms = linger_ms
        # the producer's own limit is no lower than the gateway's body limit (plus headers), so
        # the broker's message.max.bytes decides, and a refusal comes back as a 413 at once
        self.max_request_bytes = max(max_request_bytes + 64 * 1024, 1024 * 1024)
        self.entry_topic = entry_topic
        self.reply_topic = reply_topic or reply_topic_prefix(entry_topic) + uuid.uuid4().hex[:12]
        self.client_name = client
        self.send_timeout = send_timeout
        self._waiters: dict[str, _Waiter] = {}
        # correlation ids: unique per instance (its reply topic is its own), cheaper than uuid4
        self._id_prefix = uuid.uuid4().hex[:8]
        self._ids = itertools.count(1)
        self._client: ReplyClient | None = None
        self._sweeper: asyncio.Task[None] | None = None
        self._keeper: asyncio.Task[None] | None = None
        self._reply_created = False
        self._stopping = False
        self.replies = 0  # reply records matched to their request
        self.late_replies = 0
        self.timeouts = 0
        # ready: connected, the reply partition assigned and led, the entry topic there;
        # waiting_for says what is missing while not
        self.ready = False
        self.waiting_for = f"not connected to Kafka at {brokers} yet"
        # whether the entry topic exists (a worker creates it); a missing one is re-checked
        # at most once per MISSING_TOPIC_RECHECK seconds
        self._entry_exists = False
        self._entry_checked_at = -MISSING_TOPIC_RECHECK
        self._entry_check = asyncio.Lock()

    async def start(self) -> None:
        """Connect (see `keep_trying`), then keep `ready` and `waiting_for` up to date."""
        if self.keep_trying:
            try:  # a broker that is up: ready when start() returns, as without keep_trying
                async with asyncio.timeout(FIRST_ATTEMPT_TIMEOUT):
                    await self._connect()
            except Exception as exc:
                self._not_connected(exc)
        else:
            await self._connect()
        if self._client is not None:
            await self._check()
        self._sweeper = asyncio.create_task(self._sweep())
        self._keeper = asyncio.create_task(self._keep_ready())

    async def stop(self) -> None:
        """Every wait here is bounded: with the broker gone a Kafka client's stop can wait for
        it indefinitely, and on Python 3.11 a cancelled task may swallow its cancellation (an
        inner wait_for finishing in the same moment), so nothing waits on a cancel being obeyed."""
        self.ready = False
        self.waiting_for = "the gateway is stopping"
        self._stopping = True  # the keeper and sweeper loops end on their own too
        for task in (self._keeper, self._sweeper):
            if task is not None:
                task.cancel()
                await _within(task, STOP_TIMEOUT, "a gateway background task to end")
        self._keeper = self._sweeper = None
        client, self._client = self._client, None
        if client is not None:
            await _within(client.stop(), STOP_TIMEOUT, "the Kafka client to stop")
        if self._reply_created:
            self._reply_created = False
            await _within(
                delete_reply_topic(self.brokers, self.reply_topic, security=self.security),
                STOP_TIMEOUT,
                f"the deletion of reply topic {self.reply_topic}",
            )
        for waiter in self._waiters.values():
            waiter.failed(ServiceUnavailableError("the gateway is stopping"))

    async def _connect(self) -> None:
        """Create the reply topic, start the client; a failed start leaves nothing running.
        A refused login, TLS handshake or ACL is a KafkaAccessError (kafka_failures.py)."""
        with refusals_raised(self.brokers, self.security):
            await self._connect_client()

    async def _connect_client(self) -> None:
        await create_topic(self.brokers, self.reply_topic, security=self.security)
        self._reply_created = True
        client = make_client(
            self.client_name,
            self.brokers,
            self.linger_ms,
            self.max_request_bytes,
            self.send_timeout,
            self.security,
        )
        try:
            await client.start(self.reply_topic, self._on_records)
        except BaseException:
            try:
                await client.stop()
            except Exception:  # the start's error is the one worth raising
                logger.debug("stopping a client that did not start failed", exc_info=True)
            raise
        self._client = client

    def _not_connected(self, exc: BaseException) -> bool:
        """Not ready because of `exc`; whether the broker refused this client (access)."""
        refused = isinstance(exc, KafkaAccessError)
        if refused:  # its one line names the broker, the principal, the resource
            reason = str(exc)
            if reason != self.waiting_for:
                logger.error("gateway not ready: %s (retrying every %.0f s)", reason, REFUSED_RETRY)
        else:
            reason = f"Kafka at {self.brokers} cannot be reached yet: {exc!r}"
            if reason != self.waiting_for:
                logger.warning("gateway not ready: %s (retrying)", reason)
        self.ready, self.waiting_for = False, reason
        return refused

    async def _keep_ready(self) -> None:
        """Connect until it works, then re-check readiness: it can be lost and come back."""
        retry = 0.25
        while not self._stopping:
            if self._client is None:
                try:
                    async with asyncio.timeout(CONNECT_TIMEOUT):
                        await self._connect()
                except Exception as exc:
                    refused = self._not_connected(exc)
                    await asyncio.sleep(REFUSED_RETRY if refused else retry)
                    retry = min(retry * 2, CONNECT_RETRY_MAX)
                    continue
            await self._check()
            await asyncio.sleep(READY_RECHECK if self.ready else NOT_READY_RECHECK)

    async def _check(self) -> None:
        """Set `ready` and `waiting_for` from the client and one full metadata fetch."""
        was = self.ready
        reason = await self._missing()
        self.ready, self.waiting_for = reason is None, reason or ""
        if self.ready != was:
            if self.ready:
                logger.info("gateway ready: %s -> %s", self.reply_topic, self.entry_topic)
            else:
                logger.warning("gateway not ready: %s", reason)

    async def _missing(self) -> str | None:
        """What keeps this requester from answering requests now; None: nothing."""
        client = self._client
        if client is None:
            return self.waiting_for
        if not client.reading():
            return f"reply topic {self.reply_topic} partition 0 is not assigned yet"
        try:
            async with asyncio.timeout(CHECK_TIMEOUT):
                topics = await client.topics()
        except Exception as exc:
            return f"Kafka at {self.brokers} does not answer: {exc!r}"
        if not topics.get(self.reply_topic, False):
            state = "has no leader" if self.reply_topic in topics else "does not exist"
            return f"reply topic {self.reply_topic} {state}"
        self._entry_exists = self.entry_topic in topics
        if not self._entry_exists:
            return (
                f"entry topic {self.entry_topic} does not exist yet on {self.brokers}: start "
                "a worker of this function (it creates its topics)"
            )
        return None

    async def request(self, event: Event, timeout: float) -> Answer:
        """Send `event`; its answer, or a stream of chunks; 504 after `timeout` seconds (503 if
        the broker had not even taken the request by then)."""
        client = self._client
        if client is None:
            raise ServiceUnavailableError(self.waiting_for)
        if not self._entry_exists:
            await self._check_entry_topic(client)
        correlation = f"{self._id_prefix}{next(self._ids):x}"
        event.reply = KafkaReply(self.reply_topic, correlation)
        key, value, headers = encode(event)
        loop = asyncio.get_running_loop()
        waiter = self._waiters[correlation] = _Waiter(loop.create_future(), event.id, timeout)
        try:
            # a record the broker refuses (too large, no topic) fails this request at once
            await client.send(self.entry_topic, key, value, headers, waiter)
            status, body, streaming = await waiter.first
        except BaseException:
            self._waiters.pop(correlation, None)
            raise
        if not streaming:
            self._waiters.pop(correlation, None)
            return Answer(status, body, headers=waiter.headers)
        return Answer(200, chunks=self._chunks(correlation, waiter, body, timeout))

    async def _check_entry_topic(self, client: ReplyClient) -> None:
        """503 at once when the entry topic is missing, rather than a send that waits for it."""
        async with self._entry_check:  # concurrent first requests share one metadata fetch
            now = asyncio.get_running_loop().time()
            if not self._entry_exists and now - self._entry_checked_at >= MISSING_TOPIC_RECHECK:
                self._entry_exists = await client.topic_exists(self.entry_topic)
                self._entry_checked_at = now
        if not self._entry_exists:
            raise ServiceUnavailableError(
                f"topic {self.entry_topic} does not exist on {self.brokers}: start a worker "
                "of this function (it creates its topics)"
            )

    async def _sweep(self) -> None:
        """Fail every request past its deadline that has no first answer yet."""
        loop = asyncio.get_running_loop()
        while not self._stopping:
            await asyncio.sleep(SWEEP_INTERVAL)
            now = loop.time()
            for waiter in self._waiters.values():
                if now >= waiter.deadline and not waiter.first.done():
                    waiter.failed(self._expired(waiter))

    def _expired(self, waiter: _Waiter) -> Exception:
        if not waiter.delivered:
            return ServiceUnavailableError(
                f"Kafka did not take the request within {waiter.timeout:g} s"
            )
        self.timeouts += 1
        return GatewayTimeoutError(
            f"no reply within {waiter.timeout:g} s for event {waiter.event_id}"
        )

    async def _chunks(
        self, correlation: str, waiter: _Waiter, first: Any, timeout: float
    ) -> AsyncIterator[Any]:
        try:
            if first is not _EMPTY:
                yield first
            assert waiter.queue is not None
            while True:
                async with asyncio.timeout(timeout):
                    status, value, end = await waiter.queue.get()
                if status >= 300:
                    raise RuntimeError(f"failed ({status}): {value}")
                if end:
                    return
                yield value
        finally:
            self._waiters.pop(correlation, None)

    def _on_records(self, records: list[Record]) -> None:
        """Reply records, as the client read them: each goes to the request waiting for it."""
        for key, value, record_headers, stamp in records:
            headers = dict(record_headers or ())
            if tracing.ENABLED:
                _reply_span(self.reply_topic, headers, stamp)
            correlation = headers.get(H_CORRELATION, b"").decode()
            waiter = self._waiters.get(correlation)
            if waiter is None:
                self.late_replies += 1  # after a timeout: dropped and counted
                continue
            self.replies += 1
            status = int(headers.get(H_STATUS, b"200"))
            try:
                event = decode(key, value, record_headers)
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


def _reply_span(topic: str, headers: dict[str, bytes], stamp: int | None) -> None:
    """The reply's hop in the request's trace: its wait in the reply topic (tracing on)."""
    parent = headers.get(H_TRACEPARENT)
    if parent is not None:
        tracing.record_hop(
            f"queue {topic}",
            parent.decode(),
            stamp / 1000 if stamp is not None else None,
            {
                "streamgraph.event_id": headers.get(H_ID, b"").decode(),
                "messaging.system": "kafka",
                "messaging.destination.name": topic,
            },
        )


async def _within(work: Awaitable[Any], timeout: float, what: str) -> None:
    """Wait up to `timeout` seconds for `work`, then leave it (cancelled) and log; unlike
    `asyncio.wait_for` on Python 3.11, never waits for a cancellation to be obeyed."""
    task = asyncio.ensure_future(work)
    done, _ = await asyncio.wait({task}, timeout=timeout)
    if not done:
        task.cancel()
        logger.warning("gave up waiting for %s after %g s", what, timeout)
    elif not task.cancelled() and task.exception() is not None:
        logger.warning("waiting for %s: %r", what, task.exception())
