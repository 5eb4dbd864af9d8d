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
from collections.abc import AsyncIterator, Awaitable
from typing import Any, TypeVar

from aiokafka import TopicPartition

from ...connection.kafka_security import kafka_security
from ...core.content import request_event
from ...core.request_deadline import request_timeout, set_deadline
from ...errors import BadRequestError, HTTPError, StreamgraphError
from ...settings import Settings
from ...wire.reach import check_reachable
from ...wire.reply_topics import delete_topics_under
from ...wire.requester import KafkaRequester
from ..loop_thread import LoopThread
from ..reply import Response, finish, iterate_blocking, relay
from .app import KafkaGraph

logger = logging.getLogger("streamgraph.kafka.harness")

# how long the agents may take to own their partitions: a group join under the parallel test
# run's load once took over 15 s (a bound, not a wait: ready servers return at once)
READY_TIMEOUT = 45.0
# bounds for the steps that wait on the broker: a test fails saying what it waited for, never hangs
START_TIMEOUT = 60.0
STOP_TIMEOUT = 60.0

T = TypeVar("T")


class NothingToFuse(StreamgraphError):
    """`serve()` asked for fused steps (`require_fusion`) of a graph that fuses none: it would
    run exactly the plan an unfused run has run already."""


async def within(awaitable: Awaitable[T], seconds: float, what: str) -> T:
    """`awaitable`'s result, or TimeoutError("<what> within <seconds> s")."""
    try:
        return await asyncio.wait_for(awaitable, seconds)
    except TimeoutError:
        raise TimeoutError(f"{what} within {seconds:.0f} s") from None


class KafkaServer:
    """A function served by its Faust agents in this process, on `brokers`."""

    def __init__(
        self,
        function: Any,
        brokers: str,
        namespace: dict[str, Any] | None = None,
        current_function: str = "*",
        timeout: float = 30.0,
        app_options: dict[str, Any] | None = None,
        require_fusion: bool = False,
    ) -> None:
        self._require_fusion = require_fusion
        self._app_options = dict(app_options or {})  # Faust app settings over the harness's
        prefix = f"sgt{os.getpid()}{uuid.uuid4().hex[:8]}"
        self.settings = Settings(
            brokers=brokers, topic_prefix=prefix, partitions=2, request_timeout_seconds=timeout
        )
        self.timeout = timeout
        self._loop = LoopThread(name=f"kafka-{function.name}")
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
        # before any client exists: an unreachable broker is one clear error, nothing to clean
        await check_reachable(
            self.settings.brokers,
            "given to serve()",
            START_TIMEOUT,
            security=kafka_security(self.settings),
        )
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
            **self._app_options,
        )
        if self._require_fusion and not self.graph.fused:
            raise NothingToFuse(f"{function.name}: no step of this graph is fused")
        self.app = self.graph.app
        self.app.finalize()
        brokers = self.settings.brokers
        entry = self.graph.topology.entry
        await within(
            self.app.topic(entry).maybe_declare(),
            START_TIMEOUT,
            f"the entry topic {entry} was not created on {brokers}",
        )
        # requests and replies as the HTTP gateway does them: one producer, a private reply
        # topic, correlation ids
        self.requester = KafkaRequester(
            self.settings.brokers,
            self.graph.topology.entry,
            reply_topic=self.reply_topic,
            security=kafka_security(self.settings),
        )
        await within(
            self.requester.start(),
            START_TIMEOUT,
            f"the requester (reply topic {self.reply_topic}) did not start on {brokers}",
        )
        await within(self.app.start(), START_TIMEOUT, f"the Faust app did not start on {brokers}")
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
        requester = getattr(self, "requester", None)
        if requester is not None:
            try:
                await within(requester.stop(), STOP_TIMEOUT, "the requester did not stop")
            except Exception:  # stopping must go on
                logger.exception("stopping the requester failed")
        app = getattr(self, "app", None)
        if app is not None:
            try:
                await within(app.stop(), STOP_TIMEOUT, "the Faust app did not stop")
            except Exception:
                logger.exception("stopping the Faust app failed")
            await self.graph.stop_background()
        plan = getattr(getattr(self, "graph", None), "plan", None)
        if plan is None:  # nothing was declared: the server never got as far as its graph
            return
        plan.close()
        try:  # every topic of this server is under its prefix, and no other server's
            await within(
                delete_topics_under(
                    self.settings.brokers,
                    f"{self.settings.topic_prefix}.",
                    security=kafka_security(self.settings),
                ),
                STOP_TIMEOUT,
                "the server's topics were not deleted",
            )
        except Exception as exc:  # a broker already gone leaves nothing worth keeping
            logger.warning("could not delete the topics of %s: %r", self.settings.topic_prefix, exc)

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
        try:  # a bad JSON body is refused before Kafka
            event = request_event(body, path, method, headers, content_type, event_id)
            # as the gateway: the caller's X-Request-Timeout lowers the timeout, which is also
            # the event's deadline on the workers
            timeout = request_timeout(headers, self.timeout)
        except HTTPError as exc:
            return Response.from_error(exc)
        set_deadline(event, timeout)
        try:
            answer = await self.requester.request(event, timeout)
        except HTTPError as exc:  # 504 after the timeout, 503 when Kafka refuses the record
            return Response.from_error(exc)
        if answer.chunks is not None:
            return Response(200, answer.chunks)
        return Response(answer.status, answer.body)


__all__ = ["BadRequestError", "KafkaServer"]
