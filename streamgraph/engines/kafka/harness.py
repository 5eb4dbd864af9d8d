"""Run a function's agents inside the calling process on a real broker, for tests.

`KafkaServer` has the mock server's interface (`test`, `atest`, `wait_for_completion`): each
request is produced to the function's entry topic with a reply topic and a correlation id, the
Faust app (running on a private loop thread) processes it, and the answer is read back from the
reply topic. Topic names are fresh per server, so tests never see each other's records.
"""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import tempfile
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from ...core.content import decode_body
from ...core.event import Event
from ...errors import BadRequestError, GatewayTimeoutError, HTTPError
from ...settings import Settings
from ..loop_thread import LoopThread
from ..reply import Response, finish, iterate_blocking, relay
from .app import KafkaGraph
from .codec import H_CHUNK, H_CORRELATION, H_END, H_STATUS, KafkaReply, decode, encode

logger = logging.getLogger("streamgraph.kafka.harness")

READY_TIMEOUT = 15.0


class _Waiter:
    """One request waiting on the reply topic: a single answer, or a stream of chunks."""

    def __init__(self) -> None:
        self.answer: asyncio.Future[tuple[int, Any]] = asyncio.get_running_loop().create_future()
        self.chunks: asyncio.Queue[tuple[int, Any, bool]] | None = None


class KafkaServer:
    """A function served by its Faust agents in this process, on `brokers`."""

    def __init__(
        self,
        function: Any,
        brokers: str,
        namespace: dict[str, Any] | None = None,
        current_function: str = "*",
        timeout: float = 30.0,
    ) -> None:
        prefix = f"sgt{os.getpid()}{uuid.uuid4().hex[:8]}"
        self.settings = Settings(
            brokers=brokers, topic_prefix=prefix, partitions=2, request_timeout_seconds=timeout
        )
        self.timeout = timeout
        self._loop = LoopThread(name=f"kafka-{function.name}")
        self._waiters: dict[str, _Waiter] = {}
        self.reply_topic = f"{prefix}.{function.name}.replies"
        self._closed = False
        self._datadir = tempfile.mkdtemp(prefix="sg-faust-")
        try:
            self._loop.run(self._start(function, namespace, current_function))
        except BaseException:
            self.close()
            raise

    # -- lifecycle ------------------------------------------------------------------------------
    async def _start(
        self, function: Any, namespace: dict[str, Any] | None, current_function: str
    ) -> None:
        self.graph = KafkaGraph(
            function,
            self.settings,
            current_function=current_function,
            namespace=namespace,
            app_id=f"{self.settings.topic_prefix}.app",
            queue_prefix=f"{self.settings.topic_prefix}.",
            broker_commit_every=100,
            broker_commit_interval=0.5,
            consumer_auto_offset_reset="earliest",
            stream_wait_empty=False,
            table_cleanup_interval=5.0,
            # Faust keeps table state in a data folder; a test's belongs in a temporary one
            datadir=self._datadir,
        )
        self.app = self.graph.app
        self.app.finalize()
        self.producer = AIOKafkaProducer(bootstrap_servers=self.settings.brokers, linger_ms=0)
        await self.producer.start()
        await self.app.topic(self.reply_topic, partitions=1).maybe_declare()
        await self.app.topic(self.graph.topology.entry).maybe_declare()
        self.consumer = AIOKafkaConsumer(bootstrap_servers=self.settings.brokers)
        await self.consumer.start()
        self.consumer.assign([TopicPartition(self.reply_topic, 0)])
        await self.consumer.seek_to_end()
        self._reader = asyncio.create_task(self._read_replies())
        await self.app.start()
        await self._wait_ready()

    async def _wait_ready(self) -> None:
        """Until the agents own every partition of their topics (the group has settled)."""
        wanted: set[TopicPartition] = set()
        for topics in self.graph.topology.sources.values():
            for topic in topics:
                wanted.update(TopicPartition(topic, p) for p in range(self.settings.partitions))
        deadline = time.monotonic() + READY_TIMEOUT
        while time.monotonic() < deadline:
            assigned = {
                TopicPartition(tp.topic, tp.partition) for tp in self.app.consumer.assignment()
            }
            if wanted <= assigned and not self.app.rebalancing:
                await asyncio.sleep(0.2)  # let the fetchers start on the new assignment
                return
            await asyncio.sleep(0.1)
        raise TimeoutError(
            f"the Faust agents did not get their partitions within {READY_TIMEOUT:.0f} s"
        )

    async def _stop(self) -> None:
        for name in ("_reader",):
            task = getattr(self, name, None)
            if task is not None:
                task.cancel()
        for attr in ("consumer", "producer"):
            client = getattr(self, attr, None)
            if client is not None:
                try:
                    await client.stop()
                except Exception:  # stopping must go on
                    logger.exception("stopping %s failed", attr)
        app = getattr(self, "app", None)
        if app is not None:
            try:
                await app.stop()
            except Exception:
                logger.exception("stopping the Faust app failed")
            await self.graph.stop_background()
        plan = getattr(getattr(self, "graph", None), "plan", None)
        if plan is not None:
            plan.close()

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._loop.run(self._stop())
        self._loop.stop()
        shutil.rmtree(self._datadir, ignore_errors=True)

    def __del__(self) -> None:  # a forgotten server must not keep its threads and sockets
        try:
            self.close()
        except Exception:
            pass

    # -- the mock server's interface ------------------------------------------------------------
    def test(
        self,
        path: str = "/",
        body: Any = None,
        method: str = "",
        headers: dict[str, str] | None = None,
        content_type: str | None = None,
        silent: bool = False,
        get_body: bool = True,
        event_id: str | None = None,
    ) -> Any:
        response = self._loop.run(
            self._request(path, body, method, headers, content_type, event_id)
        )
        if isinstance(response.body, AsyncIterator):
            response.body = iterate_blocking(response.body, self._loop.run)
        return finish(response, silent, get_body)

    async def atest(self, *args: Any, **kwargs: Any) -> Any:
        silent = kwargs.pop("silent", False)
        get_body = kwargs.pop("get_body", True)
        response = await self._loop.arun(self._request(*args, **kwargs))
        if isinstance(response.body, AsyncIterator):
            response.body = relay(response.body, self._loop)
        return finish(response, silent, get_body)

    def wait_for_completion(self, timeout: float = 30.0) -> None:
        """Wait until every record the agents produced was consumed, then stop the agents."""
        if self._closed:
            return
        self._loop.run(self._drain(timeout))
        self.close()

    async def _drain(self, timeout: float) -> None:
        topics = [
            *self.graph.topology.step_topics.values(),
            *self.graph.topology.queue_topics.values(),
        ]
        deadline = time.monotonic() + timeout
        quiet_since: float | None = None
        await self.graph.flush_batches()
        while time.monotonic() < deadline:
            if self.graph.counters.quiet(topics):
                quiet_since = quiet_since or time.monotonic()
                if time.monotonic() - quiet_since > 0.3:
                    return
            else:
                quiet_since = None
            await asyncio.sleep(0.05)
        raise TimeoutError("the graph was still busy after the completion timeout")

    # -- requests and replies -------------------------------------------------------------------
    async def _request(
        self,
        path: str = "/",
        body: Any = None,
        method: str = "",
        headers: dict[str, str] | None = None,
        content_type: str | None = None,
        event_id: str | None = None,
    ) -> Response:
        try:
            parsed = decode_body(body, content_type)  # a bad JSON body is refused before Kafka
        except HTTPError as exc:
            return Response.from_error(exc)
        method = (method or ("POST" if body is not None else "GET")).upper()
        event = Event(parsed, event_id, path or "/", method, dict(headers or {}), content_type)
        correlation = uuid.uuid4().hex
        event.reply = KafkaReply(self.reply_topic, correlation)
        waiter = self._waiters[correlation] = _Waiter()
        key, value, record_headers = encode(event)
        await self.producer.send_and_wait(
            self.graph.topology.entry, value, key=key, headers=record_headers
        )
        try:
            status, answer = await asyncio.wait_for(asyncio.shield(waiter.answer), self.timeout)
        except TimeoutError:
            self._waiters.pop(correlation, None)
            return Response.from_error(
                GatewayTimeoutError(f"no reply within {self.timeout:.0f} s for event {event.id}")
            )
        if waiter.chunks is not None:
            return Response(200, self._stream(correlation, waiter))
        self._waiters.pop(correlation, None)
        return Response(status, answer)

    async def _stream(self, correlation: str, waiter: _Waiter) -> AsyncIterator[Any]:
        assert waiter.chunks is not None
        try:
            while True:
                status, value, end = await asyncio.wait_for(waiter.chunks.get(), self.timeout)
                if status >= 300:
                    raise RuntimeError(f"failed ({status}): {value}")
                if end:
                    return
                yield value
        finally:
            self._waiters.pop(correlation, None)

    async def _read_replies(self) -> None:
        async for record in self.consumer:
            headers = dict(record.headers or ())
            correlation = headers.get(H_CORRELATION, b"").decode()
            waiter = self._waiters.get(correlation)
            if waiter is None:
                continue  # a late reply after a timeout, or another server's
            status = int(headers.get(H_STATUS, b"200"))
            try:
                event = decode(record.key, record.value, record.headers)
            except Exception as exc:  # the reply itself is broken: fail the request clearly
                if not waiter.answer.done():
                    waiter.answer.set_result((500, {"error": f"bad reply record: {exc}"}))
                continue
            if status >= 300 and waiter.chunks is None:
                if not waiter.answer.done():  # failed before any chunk reached the caller
                    waiter.answer.set_result((status, event.body))
            elif H_CHUNK in headers or waiter.chunks is not None:
                if waiter.chunks is None:
                    waiter.chunks = asyncio.Queue()
                    if not waiter.answer.done():
                        waiter.answer.set_result((200, None))
                waiter.chunks.put_nowait((status, event.body, H_END in headers))
            elif not waiter.answer.done():
                waiter.answer.set_result((status, event.body))


__all__ = ["BadRequestError", "KafkaServer"]
